"""``tinct models``: the registry of colorization weights.

``list`` shows every entry and whether its file is present; ``download NAME``
fetches one from its official URL (only when asked), verifies its checksum and
caches it (``$TINCT_CACHE`` or the user cache dir); ``export-onnx`` writes any
network as ONNX (dynamic batch and size).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from tinct.errors import ImageWriteError


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list, download and export colorization weights", description=__doc__)
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    ls = msub.add_parser("list", help="list weights entries")
    ls.add_argument("--json", action="store_true", help="machine-readable listing")
    ls.set_defaults(func=run_list)
    dl = msub.add_parser("download", help="fetch an entry's file from its official URL into the cache")
    dl.add_argument("name", help="registry entry (see `tinct models list`)")
    dl.add_argument("--allow-unverified", action="store_true",
                    help="download even when the publisher gives no checksum (the SHA-256 seen is printed)")
    dl.add_argument("--force", action="store_true", help="download again even if the file is cached")
    dl.set_defaults(func=run_download)
    ex = msub.add_parser("export-onnx", help="export a network to ONNX")
    ex.add_argument("--weights", required=True, help="weights file (.pth, tinct .pt or .caffemodel)")
    ex.add_argument("--arch", default=None, help="architecture for bare state dicts (eccv16, siggraph17, ...)")
    ex.add_argument("--head", choices=["logits", "regression"], default="logits",
                    help="which output to export (regression: siggraph17's ab head)")
    ex.add_argument("-o", "--output", required=True, help="ONNX file to write")
    ex.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    ex.set_defaults(func=run_export)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_list(args) -> int:
    from tinct.models.weights import entries, local_path

    rows = []
    for e in entries():
        path = local_path(e)
        rows.append({**asdict(e), "path": str(path), "present": path.is_file()})
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        flag = "*" if r["default"] else " "
        state = "present" if r["present"] else "not downloaded" if r["url"] else "missing"
        print(f"{flag} {r['name']:<{width}}  {r['arch']:<10} {r['format']:<8} in={r['input_size']:<4} "
              f"bins={r['bins']:<4} {state:<15} {r['licence']}")
    print("(* = default for method 'auto'; files live in " + str(local_path(entries()[0]).parent) + ")")
    return 0


def run_download(args) -> int:
    from tinct.models.weights import download, sha256_of

    path = download(args.name, allow_unverified=args.allow_unverified, force=args.force,
                    progress=sys.stderr.isatty())
    print(f"{args.name}: {path} sha256={sha256_of(path)}")
    return 0


def run_export(args) -> int:
    from tinct.models.loading import export_onnx, load_network

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise ImageWriteError(f"{out}: exists; pass --overwrite to replace it")
    if not out.parent.resolve().is_dir():
        raise ImageWriteError(f"{out}: folder {out.parent} does not exist")
    net = load_network(args.weights, arch=args.arch)
    export_onnx(net, out, head=args.head)
    print(f"wrote {out}")
    return 0
