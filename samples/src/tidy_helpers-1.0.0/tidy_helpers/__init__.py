"""Small, dependency-free helpers for tidying text and file paths."""

from tidy_helpers.paths import ensure_dir, safe_join
from tidy_helpers.text import collapse_spaces, slugify, wrap

__all__ = ["collapse_spaces", "ensure_dir", "safe_join", "slugify", "wrap"]
__version__ = "1.0.0"
