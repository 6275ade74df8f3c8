"""The tidy-slug command."""

import argparse
import sys

from tidy_helpers.text import slugify


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tidy-slug", description="Print the slug of the given text.")
    parser.add_argument("text", nargs="+")
    parser.add_argument("--sep", default="-", help="separator between words (default: -)")
    args = parser.parse_args(argv)
    print(slugify(" ".join(args.text), sep=args.sep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
