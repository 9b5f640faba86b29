"""The ``tinct`` command line.

Each sub-command lives in its own module under :mod:`tinct.apps.cli` and exposes
``add_parser(subparsers)`` which registers an argparse sub-parser whose
``func`` default is called with the parsed arguments and returns an exit code.
Every :class:`~tinct.errors.TinctError` becomes one line on stderr and exit
code 2 -- never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tinct import __version__
from tinct.errors import TinctError

# Sub-command modules, in the order ``tinct --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "tinct.apps.cli.demo",
    "tinct.apps.cli.transfer",
    "tinct.apps.cli.colorize",
    "tinct.apps.cli.methods",
    "tinct.apps.cli.models",
    "tinct.apps.cli.evaluate",
    "tinct.apps.cli.patchdb",
    "tinct.apps.cli.serve",
    "tinct.apps.cli.train",
    "tinct.apps.cli.video",
    "tinct.apps.cli.batch",
    "tinct.apps.cli.lut",
    "tinct.apps.cli.info",
)


class _Parser(argparse.ArgumentParser):
    """argparse with tinct's manners: a bad option is one line on stderr (exit 2), not a usage dump, and
    help texts taken from docstrings lose their reStructuredText markup."""

    def __init__(self, *args, **kwargs):
        for key in ("description", "epilog", "help"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = kwargs[key].replace("``", "`")
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"tinct: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tinct",
        description="Colour for pictures: colorization and colour transfer.",
    )
    parser.add_argument("--version", action="version", version=f"tinct {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option already reported in one line
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TinctError as exc:
        print(f"tinct: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tinct: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tinct methods | head`: the reader left, nothing more to say
        sys.stderr.close()
        return 0
    except MemoryError:
        print("tinct: error: out of memory; try a smaller image or --max-pixels", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
