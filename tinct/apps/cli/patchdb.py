"""``tinct patchdb build DIR -o db.npz``: build a patch database for the ``patchdb`` colorize method."""

from __future__ import annotations

import sys
from pathlib import Path

from tinct.errors import ImageWriteError, ParameterError


def add_parser(sub) -> None:
    p = sub.add_parser("patchdb", help="build patch databases for the patchdb method", description=__doc__)
    actions = p.add_subparsers(dest="patchdb_command", metavar="ACTION")
    b = actions.add_parser(
        "build", help="collect gray neighbourhoods and their colours from colour images",
        description="Sample gray 7x7 neighbourhoods and their ab colours from a folder of colour images, or from "
        "a folder of .tar shards with index.csv (then --sources picks rows by its source column).",
        epilog="Example: tinct patchdb build ../shared/data/train --sources bsds500,camvid,flowers-5class,"
        "imagenette-224sq -o db.npz",
    )
    b.add_argument("folder", metavar="DIR", help="folder of colour images or of .tar shards")
    b.add_argument("-o", "--output", required=True, help="database file to write (.npz)")
    b.add_argument("--sources", default=None, help="comma-separated index.csv sources to use (shards only)")
    b.add_argument("--labels", metavar="LABELDIR", default=None,
                   help="folder of label images, one per photo (same relative path and stem; integer class ids, "
                   "0 = unlabelled; names from LABELDIR/classes.txt or the default table, see docs/patchdb.md)")
    b.add_argument("--per-image", type=int, default=8, help="pixels sampled per image (default 8)")
    b.add_argument("--max-vectors", type=int, default=60_000, help="database size cap (default 60000, ~2.5 MB)")
    b.add_argument("--limit", type=int, default=None, help="read at most N images")
    b.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_build(args) -> int:
    import numpy as np

    from tinct.colorize.patchdb import build_database, iter_images, iter_labelled, read_class_table

    out = Path(args.output)
    if out.suffix.lower() != ".npz":
        raise ParameterError(f"--output: {out} must end in .npz")
    if not out.parent.resolve().is_dir():
        raise ImageWriteError(f"{out}: folder {out.parent} does not exist")
    if out.exists() and not args.overwrite:
        raise ImageWriteError(f"{out}: exists; use --overwrite to replace it")
    for name in ("per_image", "max_vectors", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ParameterError(f"--{name.replace('_', '-')}: must be at least 1, got {value}")
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip()) if args.sources else None
    text = f"{Path(args.folder).name}" + (f" ({', '.join(sources)})" if sources else "")
    if args.labels:
        if sources:
            raise ParameterError("--labels: cannot be combined with --sources (label masks need image files)")
        names = read_class_table(args.labels)
        images = iter_labelled(args.folder, args.labels, args.limit)
    else:
        names, images = None, iter_images(args.folder, sources, args.limit)
    db = build_database(images, per_image=args.per_image, max_vectors=args.max_vectors, seed=args.seed,
                        sources_text=text, class_names=names)
    db.save(out)
    extra = ""
    if db.labels is not None:
        counts = {db.class_names[i]: int(n) for i, n in enumerate(np.bincount(db.labels)) if n}
        extra = ", classes: " + ", ".join(f"{name} {n}" for name, n in counts.items())
    print(f"{out}: {len(db.ab)} vectors, {out.stat().st_size / 1e6:.2f} MB{extra}", file=sys.stderr)
    return 0
