"""Pieces shared by the CLI sub-commands: method options, printing, progress bars."""

from __future__ import annotations

import argparse
import json
import os
import sys


def add_method_options(parser: argparse.ArgumentParser, kind: str, default: str) -> None:
    """--method, --param, --post, --max-pixels, --overwrite and --json, as every method command has them."""
    parser.add_argument("-m", "--method", default=default, help=f"{kind} method (see `tinct methods`); default {default}")
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE",
        help="method parameter, repeatable (see `tinct methods NAME`)",
    )
    parser.add_argument(
        "--post", default=None, metavar="SPEC",
        help="post-processing after the method, e.g. 'wb', 'contrast' or 'wb,contrast'",
    )
    parser.add_argument("--max-pixels", type=int, default=None, help="refuse images larger than this (default 100 MP)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files (never an input)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout instead of text")


def emit(args: argparse.Namespace, summary: dict, lines: list[str]) -> None:
    """Print the summary as JSON (--json) or as plain lines."""
    if getattr(args, "json", False):
        json.dump(summary, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        for line in lines:
            print(line)


def progress(iterable, total: int, desc: str, force: bool):
    """A tqdm progress bar on stderr for several files: shown on a terminal, or always with ``force``."""
    if total < 2:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="img", file=sys.stderr,
                disable=False if force or os.environ.get("TINCT_PROGRESS") else None)
