"""Pieces shared by the CLI sub-commands: method options, input discovery, output names."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from tinct.errors import ImageReadError, ParameterError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}


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


def collect_inputs(items: list[str]) -> list[tuple[Path, Path]]:
    """Expand files and folders into (file, root) pairs, sorted and without duplicates.

    ``root`` is the folder given on the command line (for files: their parent),
    used to mirror sub-folders under the output directory.
    """
    seen: set[Path] = set()
    out: list[tuple[Path, Path]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise ImageReadError(f"{path}: folder holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            pairs = [(f, path) for f in files]
        elif path.exists():
            pairs = [(path, path.parent)]
        else:
            raise ImageReadError(f"{path}: no such file or folder")
        for f, root in pairs:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append((f, root))
    return out


def output_paths(inputs: list[tuple[Path, Path]], output: str | None, method: str, fmt: str | None) -> list[Path]:
    """Where each input's result goes: ``output`` itself when it names an image file and there is one
    input, else generated names (:func:`output_names`) in the folder ``output`` (default: the current one)."""
    out = Path(output) if output else Path.cwd()
    if len(inputs) == 1 and output and out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir():
        return [out]
    return output_names(inputs, out, method, parse_suffix(fmt))


def output_names(inputs: list[tuple[Path, Path]], out_dir: Path, method: str, suffix: str | None) -> list[Path]:
    """Deterministic output paths that never collide.

    ``photo.jpg`` -> ``OUT/photo.<method>.jpg``; files found under a folder keep
    their relative sub-folders. If two inputs would still map to one name, each
    gets a short hash of its absolute path.
    """
    names = []
    for f, root in inputs:
        rel = f.relative_to(root) if f.is_relative_to(root) else Path(f.name)
        ext = suffix or f.suffix.lower()
        names.append(out_dir / rel.parent / f"{rel.stem}.{method}{ext}")
    counts: dict[Path, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    result = []
    for (f, _), n in zip(inputs, names):
        if counts[n] > 1:
            tag = hashlib.sha1(str(f.resolve()).encode()).hexdigest()[:8]
            n = n.with_name(f"{n.stem}-{tag}{n.suffix}")
        result.append(n)
    return result


def parse_suffix(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    ext = "." + fmt.lower().lstrip(".")
    if ext not in IMAGE_SUFFIXES:
        raise ParameterError(f"--format: expected one of {', '.join(sorted(s[1:] for s in IMAGE_SUFFIXES))}, got {fmt!r}")
    return ext


def apply_post(image, spec: str | None, original=None):
    """Run ``--post`` post-processing if asked (see :mod:`tinct.post`)."""
    if not spec:
        return image
    from tinct.post import apply_post as _apply

    return _apply(image, spec, keep_lightness_of=original)


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
