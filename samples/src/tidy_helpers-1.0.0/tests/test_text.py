import os

import pytest

from tidy_helpers import collapse_spaces, safe_join, slugify, wrap


def test_slugify():
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("Crème brûlée") == "creme-brulee"
    assert slugify("a b", sep="_") == "a_b"


def test_collapse_and_wrap():
    assert collapse_spaces("  a \n\t b ") == "a b"
    assert wrap("one two three", width=8) == "one two\nthree"


def test_safe_join(tmp_path):
    assert safe_join(str(tmp_path), "x", "y.txt") == os.path.join(str(tmp_path), "x", "y.txt")
    with pytest.raises(ValueError):
        safe_join(str(tmp_path), "..", "etc")
