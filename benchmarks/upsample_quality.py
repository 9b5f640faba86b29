"""How well each ab upsampler restores full-resolution colour from a network-sized ab grid.

For every image of a folder (default: the Kodak set), the true ab is area-averaged to the grid a CNN
with input ~256^2 and output stride 4 would predict (about 64^2 cells, aspect kept), then brought
back to full size by each upsampler, guided by the true full-resolution L. Scores: mean ab error
(CIELAB units) over all pixels and over pixels near strong L edges (top 5 % Sobel magnitude, dilated
5 x 5), and AuC of the ab error curve (0..150), pooled over the set; plus seconds per image.
This isolates the upsampler: it is what the pipeline adds to a perfect low-resolution prediction.

    python benchmarks/upsample_quality.py [DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from tinct.color import rgb2lab
from tinct.colorize.cnn import net_input_shape
from tinct.colorize.upsample import bilinear_upsample, guided_upsample, joint_bilateral_upsample, resize
from tinct.evaluate.run import list_images
from tinct.io import read_image
from tinct.metrics.colorization import ab_error_counts, auc_from_counts
from tinct.pixels import to_float_rgb

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval" / "kodak24"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=str(DEFAULT))
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    methods = {
        "bilinear (seed 001)": lambda ab, L: bilinear_upsample(ab, L.shape),
        "guided filter (He 2013)": guided_upsample,
        "joint bilateral (Kopf 2007)": joint_bilateral_upsample,
    }
    import cv2

    stats = {k: {"counts": np.zeros(152), "err": [], "edge": [], "sec": []} for k in methods}
    files = list_images(args.folder)[: args.limit]
    for path in files:
        lab = rgb2lab(to_float_rgb(read_image(path).pixels))
        L, ab = lab[..., 0], lab[..., 1:]
        g = np.hypot(cv2.Sobel(L, cv2.CV_32F, 1, 0), cv2.Sobel(L, cv2.CV_32F, 0, 1))
        edge = cv2.dilate((g > np.percentile(g, 95)).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        h, w = net_input_shape(*L.shape, 256, 8)
        low = resize(ab, (h // 4, w // 4))
        for name, fn in methods.items():
            t = time.perf_counter()
            up = fn(low, L)
            stats[name]["sec"].append(time.perf_counter() - t)
            stats[name]["counts"] += ab_error_counts(up, ab)
            err = np.sqrt(((up - ab) ** 2).sum(-1))
            stats[name]["err"].append(float(err.mean()))
            stats[name]["edge"].append(float(err[edge].mean()))
    print(f"{len(files)} images from {args.folder}; ab grid ~64x64 (net input ~256^2, stride 4)")
    print("| upsampler | mean ab error | near L edges | AuC % | s/image |")
    print("|---|---|---|---|---|")
    for name, s in stats.items():
        print(f"| {name} | {np.mean(s['err']):.3f} | {np.mean(s['edge']):.3f} | {auc_from_counts(s['counts']):.3f} "
              f"| {np.mean(s['sec']):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
