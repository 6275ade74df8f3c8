"""Path helpers."""

import os


def safe_join(base, *parts):
    """Join parts onto base, refusing results that escape base.

    >>> safe_join("/srv/data", "a/../b.txt")
    '/srv/data/b.txt'
    """
    base = os.path.abspath(base)
    joined = os.path.normpath(os.path.join(base, *parts))
    if os.path.commonpath([base, joined]) != base:
        raise ValueError(f"{joined!r} is outside {base!r}")
    return joined


def ensure_dir(path, mode=0o755):
    """Create path and its parents if needed; return path."""
    os.makedirs(path, mode=mode, exist_ok=True)
    return path
