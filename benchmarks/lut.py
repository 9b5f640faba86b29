"""LUT round trip: how closely a fitted 3-D LUT reproduces each pointwise transfer on its own target.

For every pair of ``eval/transfer-pairs`` and each method (reinhard, mkl, gmm, sliced, and sliced
without its regrain filter), the method runs on the target, a LUT is fitted
(:func:`tinct.transfer.lut.fit_lut`, size ``--size``), applied to the target, and the mean
CIEDE2000 between the two pictures is reported (``tinct transfer --export-lut`` writes this LUT).

Usage::

    python benchmarks/lut.py            # size 33
    python benchmarks/lut.py --size 17
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINCT_SHARED", REPO.parent / "shared"))
RUNS = [("reinhard", {}), ("mkl", {}), ("gmm", {}), ("sliced", {}), ("sliced", {"regrain": 0})]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=33)
    args = ap.parse_args(argv)

    from tinct.io import read_image
    from tinct.metrics.transfer import delta_e
    from tinct.registry import get_method
    from tinct.transfer.lut import apply_lut, fit_lut

    root = SHARED / "data" / "eval" / "transfer-pairs"
    pairs = list(csv.DictReader(open(root / "pairs.csv")))
    images = [(r["pair_id"], read_image(root / r["target"]).pixels, read_image(root / r["reference"]).pixels)
              for r in pairs]
    print(f"LUT size {args.size}; {len(images)} pairs of eval/transfer-pairs; mean CIEDE2000 between the method's "
          "output and the LUT applied to the same target")
    print()
    print("| method | mean dE2000 | max dE2000 | per pair | fit s (mean) |")
    print("|---|---|---|---|---|")
    for name, params in RUNS:
        des, fits = [], []
        for _, t, r in images:
            out = get_method(name)(t, r, **params)
            t0 = time.perf_counter()
            lut = fit_lut(name, t, r, args.size, result=out, **params)
            fits.append(time.perf_counter() - t0)
            des.append(delta_e(apply_lut(lut, t), out))
        label = name + (" " + " ".join(f"{k}={v}" for k, v in params.items()) if params else "")
        print(f"| {label} | {np.mean(des):.2f} | {np.max(des):.2f} | {' '.join(f'{d:.2f}' for d in des)} | "
              f"{np.mean(fits):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
