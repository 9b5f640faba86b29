"""``python -m tinct.train ...`` = ``tinct train ...`` without the rest of the command line."""

import argparse
import sys

from tinct.apps.cli.train import add_parser
from tinct.errors import TinctError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinct.train")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except TinctError as exc:
        print(f"tinct: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
