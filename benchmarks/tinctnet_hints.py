"""PSNR against the number of user colour hints, as the SIGGRAPH17 paper's Fig. 4 reports it.

For every colour image of the evaluation folders, ``k`` hint points are drawn at random pixels (fixed
seed) and reveal the true colour there (the mean of the 3 x 3 patch, as the paper's simulated user
does); the image's gray version is colorized through the public API, ``tinct.colorize(gray,
hints=...)``, exactly as a user's clicks arrive. Printed per ``k``: PSNR of RGB against the original,
the gain over the gray baseline of the same images and over ``k = 0`` (the same model without hints),
and the share of hint points whose output ab lies within 10 of the hint's ab. The published
SIGGRAPH17 curve (ImageNet, its own network) is printed beside it for reference.

    python benchmarks/tinctnet_hints.py [--method auto] [--weights FILE] [--hints 0 1 2 5 10 20 50] [--limit N] [DIR ...]

``--protocol objects`` measures what a user's click does instead (the hints issue's item 6): in each image
the largest few regions of a Felzenszwalb segmentation of the *colour truth* (2-25 % of the picture) are
taken as objects; one click at each object's most interior point asks for a colour the object does not
have (its true hue turned by 120 degrees, chroma at least 30). Printed: the share of the object's pixels
whose output ab lies within 15 of the requested ab (the click dominates its object), and how far the
result moves outside the object, as the mean ab change against the same model without the click
(the click fades at the object's edges) -- near the object (a 5 % wide ring) and beyond.

    python benchmarks/tinctnet_hints.py --protocol objects [--weights FILE] [--limit N] [DIR ...]
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


def object_clicks(rgb: np.ndarray, lab: np.ndarray, max_objects: int = 3):
    """Objects of the colour truth and one click on each asking for a new colour.

    Returns a list of ``(mask, hint)``: a boolean (h, w) object and a (1, 6) hint x, y, r, g, b, radius.
    """
    import cv2
    from skimage.segmentation import felzenszwalb

    from tinct.color import lab2rgb

    h, w = rgb.shape[:2]
    labels = felzenszwalb(rgb, scale=400, sigma=0.8, min_size=int(0.01 * h * w))
    ids, counts = np.unique(labels, return_counts=True)
    share = counts / labels.size
    chosen = ids[(share >= 0.02) & (share <= 0.25)][np.argsort(-counts[(share >= 0.02) & (share <= 0.25)])]
    out = []
    for i in chosen[:max_objects]:
        mask = labels == i
        dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
        y, x = np.unravel_index(np.argmax(dist), dist.shape)
        ab = lab[mask, 1:].mean(axis=0)
        hue = np.arctan2(ab[1], ab[0]) + 2 * np.pi / 3
        chroma = max(30.0, float(np.hypot(*ab)))
        want = np.array([lab[y, x, 0], chroma * np.cos(hue), chroma * np.sin(hue)], np.float32)
        colour = np.clip(lab2rgb(want[None, None])[0, 0], 0, 1) * 255.0
        out.append((mask, np.array([[x, y, *colour, 0.0]])))
    return out


def run_objects(args, dirs) -> int:
    """The ``--protocol objects`` table (see the module notes)."""
    import cv2

    import tinct
    from tinct.color import lightness2rgb, rgb2lab
    from tinct.evaluate.run import list_images
    from tinct.io import read_image
    from tinct.pixels import is_grayscale, to_float_rgb

    params = {"weights": args.weights} if args.weights else {}
    covered, near, far, n_img = [], [], [], 0
    for folder in dirs:
        for path in list_images(folder)[: args.limit]:
            rgb = to_float_rgb(read_image(path).pixels)
            if is_grayscale(rgb):
                continue
            n_img += 1
            lab = rgb2lab(rgb)
            gray = np.ascontiguousarray(lightness2rgb(lab[..., 0])[..., 0])
            base_ab = rgb2lab(tinct.colorize(gray, method=args.method, **params))[..., 1:]
            ring_px = max(3, int(0.05 * max(gray.shape)))
            for mask, hint in object_clicks(rgb, lab):
                out_ab = rgb2lab(tinct.colorize(gray, method=args.method, hints=hint, **params))[..., 1:]
                want = rgb2lab((hint[:, 2:5] / 255.0).astype(np.float32)[None])[0, 0, 1:]
                covered.append(np.mean(np.linalg.norm(out_ab[mask] - want, axis=1) <= 15.0))
                moved = np.linalg.norm(out_ab - base_ab, axis=-1)
                grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * ring_px + 1,) * 2, np.uint8)) > 0
                near.append(moved[grown & ~mask].mean())
                far.append(moved[~grown].mean() if (~grown).any() else 0.0)
    print(f"{args.method} ({args.weights or 'default weights'}) on {', '.join(d.name for d in dirs)}: "
          f"{n_img} images, {len(covered)} object clicks")
    print("| object pixels within ab 15 of the click's colour | ab change in a 5 % ring outside | ab change beyond |")
    print("|---|---|---|")
    print(f"| {100 * np.mean(covered):.1f} % (median {100 * np.median(covered):.1f} %) | {np.mean(near):.2f} "
          f"| {np.mean(far):.2f} |")
    return 0


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
    ap.add_argument("--protocol", choices=("points", "objects"), default="points",
                    help="random points revealing the truth (the paper's sweep) or clicks asking objects for a new colour")
    args = ap.parse_args(argv)
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval"
    dirs = [Path(d) for d in args.dirs] or [shared / d for d in DEFAULT_DIRS]
    if args.protocol == "objects":
        return run_objects(args, dirs)
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
