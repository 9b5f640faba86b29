"""Contact sheet of TinctNet on the bundled examples and the historical photographs.

Colour images (whose truth is known) get three columns: the gray input (their own L), TinctNet's
colorization, the original; gray photographs (and every image of a ``historical`` folder, some of which
are toned scans) get two: the input's L as gray, and the colorization. Written with
:func:`tinct.evaluate.run.write_sheet`.

Usage::

    python benchmarks/tinctnet_sheet.py [--weights FILE] [--out docs/tinctnet-contact-sheet.png] [DIR ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    import torch

    from tinct.color import lightness2rgb, rgb2lab
    from tinct.colorize.cnn import colorize_cnn
    from tinct.evaluate.run import list_images, write_sheet
    from tinct.io import read_image
    from tinct.models import weights as registry
    from tinct.pixels import is_grayscale, to_float_rgb

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--out", default=str(REPO / "docs" / "tinctnet-contact-sheet.png"))
    ap.add_argument("--height", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = args.weights or str(registry.find(registry.default_entry().name))
    dirs = args.dirs or [str(REPO / "tinct" / "data" / "examples"),
                         str(REPO.parent / "shared" / "data" / "eval" / "historical")]
    rows = []
    for d in dirs:
        for f in list_images(d):
            rgb = to_float_rgb(read_image(f, max_pixels=50_000_000).pixels)
            if is_grayscale(rgb) or "historical" in Path(d).parts:
                gray = lightness2rgb(rgb2lab(rgb)[..., 0])  # toned scans count as gray photographs
                out = colorize_cnn(gray, arch=None, weights=weights, threads=args.threads)
                rows.append((gray, out))
            else:
                gray = lightness2rgb(rgb2lab(rgb)[..., 0])
                out = colorize_cnn(gray, arch=None, weights=weights, threads=args.threads)
                rows.append((gray, out, rgb))
            print(f.name, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_sheet(args.out, rows, height=args.height)
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
