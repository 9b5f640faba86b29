"""``tinct info FILE``: what an image file is, and whether tinct made it (its provenance record).

Prints the format, size, bit depth and alpha, then the provenance record that ``tinct colorize`` and
``tinct transfer`` write into their outputs (:func:`tinct.io.read_provenance`): that tinct made it, with
which method, model and version, and settings. A file tinct did not make (or that was written with
``--no-provenance``) says so. ``--json`` prints the record alone (``null`` when there is none).
"""

from __future__ import annotations

import json
import sys

from tinct.apps.cli._common import add_command


def add_parser(sub) -> None:
    p = add_command(sub, "info", "show an image file's format and the provenance tinct recorded in it", __doc__,
                    "tinct info photo_colorized.png")
    p.add_argument("file", metavar="FILE", nargs="+", help="image file(s)")
    p.add_argument("--json", action="store_true", help="print each file's provenance record as JSON")
    p.set_defaults(func=run)


def _describe(path: str) -> tuple[str, dict | None]:
    from tinct.io import read_image, read_provenance

    record = read_provenance(path)  # header only: a damaged file fails here in one line, before decoding
    image = read_image(path)
    px = image.pixels
    channels = 1 if px.ndim == 2 else px.shape[2]
    bits = 16 if px.dtype.itemsize == 2 else 8
    alpha = ", alpha" if image.alpha is not None else ""
    kind = "gray" if channels == 1 else "RGB"
    return f"{image.format} {px.shape[1]}x{px.shape[0]} {kind} {bits}-bit{alpha}", record


def run(args) -> int:
    many = len(args.file) > 1
    records = {}
    for path in args.file:
        summary, record = _describe(path)
        records[path] = record
        if args.json:
            continue
        prefix = f"{path}: " if many else ""
        print(f"{prefix}{summary}")
        if record is None:
            print(f"{prefix}provenance: none (not made by tinct, or written with --no-provenance)")
            continue
        print(f"{prefix}made by {record.get('software', 'tinct')} {record.get('tinct_version', '')}".rstrip())
        for key, value in record.items():
            if key in ("software", "tinct_version"):
                continue
            text = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value
            print(f"{prefix}  {key}: {text}")
    if args.json:
        out = records[args.file[0]] if not many else records
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0
