"""totally_harmless: a HARMLESS package that imitates malware.

It exists so that dragonfly scan has something to find (see README.md).
Importing it only defines the names below; nothing is executed.
"""

import base64

__version__ = "0.1.0"


def show_the_trick():
    """Run the trick malicious packages use to hide a second stage.

    Nothing calls this function. If you call it yourself, the blob decodes to
    print("hello from a harmless sample") and that is all it does.
    """
    exec(base64.b64decode("cHJpbnQoImhlbGxvIGZyb20gYSBoYXJtbGVzcyBzYW1wbGUiKQ=="))
