"""Strings that a stealer would carry. HARMLESS: nothing uses them.

Nothing in this package reads these paths or sends anything to this URL.
"""

# A made-up webhook (id 000, token xyz): Discord has no such webhook.
WEBHOOK_URL = "https://discord.com/api/webhooks/000/xyz"

# Where Chromium-based browsers keep saved passwords and the key that protects them.
CHROME_USER_DATA = r"%LOCALAPPDATA%\Google\Chrome\User Data"
BROWSER_FILES = ["Local State", r"Default\Login Data"]
