"""Text helpers."""

import re
import textwrap
import unicodedata

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")


def slugify(text, sep="-"):
    """Return a lower-case ASCII slug of text.

    >>> slugify("Crème brûlée, 2 servings")
    'creme-brulee-2-servings'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_WORD.sub(sep, ascii_text.lower()).strip(sep)


def collapse_spaces(text):
    """Replace every run of whitespace with a single space."""
    return _SPACES.sub(" ", text).strip()


def wrap(text, width=72, indent=""):
    """Wrap text to width columns, each line starting with indent."""
    return textwrap.fill(
        collapse_spaces(text),
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
    )
