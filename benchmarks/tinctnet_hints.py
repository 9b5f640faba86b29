"""PSNR against the number of user colour hints, as the SIGGRAPH17 paper's Fig. 4 reports it.

For every colour image of the evaluation folders, ``k`` hint points are drawn at random pixels (fixed
seed) and reveal the true colour there (the mean of the 3 x 3 patch, as the paper's simulated user
does); the image's gray version is colorized through the public API, ``tinct.colorize(gray,
hints=...)``, exactly as a user's clicks arrive. Printed per ``k``: PSNR of RGB against the original,
the gain over the gray baseline of the same images and over ``k = 0`` (the same model without hints),
and the share of hint points whose output ab lies within 10 of the hint's ab. The published
SIGGRAPH17 curve (ImageNet, its own network) is printed beside it for reference.

    python benchmarks/tinctnet_hints.py [--method auto] [--weights FILE] [--hints 0 1 2 5 10 20 50] [--limit N] [DIR ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_DIRS = ["kodak24", "bsds500-test100"]
#: Zhang et al. 2017, Fig. 4 (ImageNet validation, random points revealing the 3 x 3 mean): hints -> PSNR dB.
SIGGRAPH17_PUBLISHED = {0: 24.43, 1: 25.37, 2: 26.20, 5: 27.39, 10: 28.42, 20: 29.34, 50: 30.42}


def simulated_hints(rgb: np.ndarray, k: int, rng) -> np.ndarray:
    """``k`` random points revealing the 3 x 3 mean sRGB colour there, as (k, 6) x, y, r, g, b, radius."""
    import cv2

    h, w = rgb.shape[:2]
    mean3 = cv2.blur(rgb.astype(np.float32), (3, 3))
    pos = rng.choice(h * w, size=k, replace=False)
    ys, xs = np.unravel_index(pos, (h, w))
    colours = np.clip(mean3[ys, xs] * 255.0, 0, 255)
    return np.column_stack([xs, ys, colours, np.zeros(k)]).astype(np.float64)


def main(argv=None) -> int:
    import tinct
    from tinct.color import lightness2rgb, rgb2lab
    from tinct.evaluate.run import list_images
    from tinct.io import read_image
    from tinct.metrics.colorization import psnr
    from tinct.pixels import is_grayscale, to_float_rgb

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="*", help="folders of colour images (default: kodak24 and bsds500-test100)")
    ap.add_argument("--method", default="auto", choices=("auto", "siggraph17"))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--hints", type=int, nargs="+", default=[0, 1, 2, 5, 10, 20, 50])
    ap.add_argument("--limit", type=int, default=None, help="images per folder")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval"
    dirs = [Path(d) for d in args.dirs] or [shared / d for d in DEFAULT_DIRS]
    params = {"weights": args.weights} if args.weights else {}

    rows = {k: {"psnr": [], "gray": [], "fit": []} for k in args.hints}
    for folder in dirs:
        files = [f for f in list_images(folder)][: args.limit]
        for i, path in enumerate(files):
            rgb = to_float_rgb(read_image(path).pixels)
            if is_grayscale(rgb):
                continue
            lab = rgb2lab(rgb)
            gray = np.ascontiguousarray(lightness2rgb(lab[..., 0])[..., 0])
            gray_psnr = psnr(lightness2rgb(lab[..., 0]), rgb)
            for k in args.hints:
                rng = np.random.default_rng([args.seed, i, k])
                hints = simulated_hints(rgb, k, rng)
                out = tinct.colorize(gray, method=args.method, hints=hints, **params)
                rows[k]["psnr"].append(psnr(out, rgb))
                rows[k]["gray"].append(gray_psnr)
                if k:
                    out_ab = rgb2lab(out)[hints[:, 1].astype(int), hints[:, 0].astype(int), 1:]
                    want = rgb2lab((hints[:, 2:5] / 255.0).astype(np.float32)[None])[0, :, 1:]
                    rows[k]["fit"].extend(np.linalg.norm(out_ab - want, axis=1) <= 10.0)
    n = len(rows[args.hints[0]]["psnr"])
    base = np.mean(rows[args.hints[0]]["psnr"]) if 0 in rows else float("nan")
    print(f"{args.method} ({args.weights or 'default weights'}) on {', '.join(d.name for d in dirs)}: {n} images")
    print("| hints | PSNR dB | vs gray | vs no hints | hint points within ab 10 | SIGGRAPH17 published (ImageNet) |")
    print("|---|---|---|---|---|---|")
    for k in args.hints:
        r = rows[k]
        p, g = np.mean(r["psnr"]), np.mean(r["gray"])
        fit = f"{100 * np.mean(r['fit']):.1f} %" if r["fit"] else "-"
        pub = SIGGRAPH17_PUBLISHED.get(k)
        print(f"| {k} | {p:.2f} | {p - g:+.2f} | {p - base:+.2f} | {fit} | {pub if pub is not None else '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
