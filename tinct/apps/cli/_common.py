"""Pieces shared by the CLI sub-commands: method options, printing, progress bars."""

from __future__ import annotations

import argparse
import json
import os
import sys

from tinct.errors import ParameterError


def pixel_count(text: str) -> int:
    """``--max-pixels``: a whole number of pixels, also written as 2e8 or 200_000_000."""
    from tinct.io import resolve_max_pixels

    try:
        number = float(text.replace("_", ""))
    except ValueError:
        number = float("nan")
    if not (number == number and number.is_integer()):
        raise ParameterError(f"--max-pixels: expected a positive whole number of pixels, got {text!r}")
    return resolve_max_pixels(int(number))


def add_command(sub, name: str, help: str, doc: str | None, *examples: str) -> argparse.ArgumentParser:
    """A sub-command's parser: its one-line ``help``, the module docstring as description, examples as the epilog."""
    epilog = f"{'Example' if len(examples) == 1 else 'Examples'}: {' ; '.join(examples)}" if examples else None
    return sub.add_parser(name, help=help, description=doc, epilog=epilog)


def add_method_options(parser: argparse.ArgumentParser, kind: str) -> None:
    """--method, --param, --post, --max-pixels, --overwrite, --no-provenance and --json, as every method command has."""
    from tinct.pipeline import DEFAULT_METHODS

    default = DEFAULT_METHODS[kind]
    parser.add_argument("-m", "--method", default=None,
                        help=f"{kind} method (see `tinct methods`); default {default}")
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE",
        help="method parameter, repeatable (see `tinct methods NAME`)",
    )
    parser.add_argument(
        "--input", action="append", default=[], metavar="NAME=FILE", dest="extra_inputs",
        help="any other input the method declares (see `tinct methods NAME`), e.g. label_map=labels.png",
    )
    parser.add_argument(
        "--post", default=None, metavar="SPEC",
        help="post-processing after the method, e.g. 'wb', 'contrast' or 'wb,contrast'",
    )
    parser.add_argument("--max-pixels", default=None, metavar="N",
                        help="refuse images larger than N pixels, e.g. 2e8 (default $TINCT_MAX_PIXELS or 100 MP)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files (never an input)")
    parser.add_argument("--no-provenance", action="store_true",
                        help="do not record in the output that tinct made it, with which method and settings")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout instead of text")


def named_inputs(pairs: list[str]) -> dict[str, str]:
    """``["label_map=labels.png", ...]`` from ``--input`` as a dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value:
            raise ParameterError(f"--input: expected NAME=FILE, got {pair!r}")
        out[key.strip().replace("-", "_")] = value
    return out


def cli_message(message: str) -> str:
    """A library message in command-line words."""
    from tinct.io.write import EXISTS

    return message.replace(EXISTS, "the file exists and is kept; --overwrite replaces it")


def report(args: argparse.Namespace, method: str, done: list[dict], failed: list[dict],
           skipped: list[dict] | None = None) -> int:
    """Print what a run over files did; exit status 2 when any file failed."""
    skipped = (skipped or []) + [{"input": d["input"], "reason": d["skipped"]} for d in done if d.get("skipped")]
    done = [d for d in done if not d.get("skipped")]
    for d in done:
        if d.get("warning"):
            print(f"tinct: warning: {d['warning']}", file=sys.stderr)

    def line(d: dict) -> str:
        extra = f", {d['input_colour']} input" if d.get("input_colour") else ""
        return f"wrote {d['output']}  ({d['seconds']:.2f} s{extra})"

    lines = [line(d) for d in done]
    lines += [f"skipped {s['input']}: {s['reason']}" for s in skipped]
    for f in failed:
        f["error"] = cli_message(f["error"])
        print(f"tinct: error: {f['error']}", file=sys.stderr)
    if len(done) + len(failed) + len(skipped) > 1:
        lines.append(f"{len(done)} written, {len(failed)} failed" + (f", {len(skipped)} skipped" if skipped else ""))
    emit(args, {"method": method, "written": done, "failed": failed, "skipped": skipped}, lines)
    return 2 if failed else 0


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
