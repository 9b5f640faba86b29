"""``tinct evaluate``: colorize the gray version of every colour image of a folder and score it.

Each colour image's CIELAB L is turned into a gray image (the neutral sRGB
with that L, float32, so the method sees exactly the truth's lightness); the
method colorizes it; the result is scored against the original with
:mod:`tinct.metrics.colorization`. The ``gray`` baseline (ab = 0, i.e. the gray
input itself) is always scored in the same run. Methods that need a
reference use ``reference`` (one image for the whole set) when given and are
refused with a clear message otherwise; methods that need scribbles are refused.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tinct.color import lightness2rgb, rgb2lab
from tinct.errors import ParameterError, TinctError
from tinct.io.files import image_files
from tinct.metrics.colorization import SetAccumulator, rebalance_weights
from tinct.pixels import is_grayscale, to_float_rgb

SHEET_ROWS = 8
SHEET_HEIGHT = 160


def list_images(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise TinctError(f"{folder}: not a folder")
    files = image_files(folder)
    if not files:
        raise TinctError(f"{folder}: folder holds no image files")
    return files


def check_method(method, reference) -> str | None:
    """Why ``method`` cannot be evaluated automatically (a message), or None when it can."""
    if method.need("scribbles") == "required":
        return f"method {method.name!r} needs scribbles, which an automatic evaluation cannot supply"
    if method.need("reference") == "required" and reference is None:
        return f"method {method.name!r} needs a reference image; pass one with --reference PATH"
    if method.kind != "colorize":
        return f"method {method.name!r} is a {method.kind} method, not a colorization method"
    return None


def evaluate_folder(method_name: str, folder, *, limit: int | None = None, params: dict | None = None,
                    reference=None, sheet=None, max_pixels: int | None = None, progress=None) -> dict:
    """Score ``method_name`` and the gray baseline on the colour images of ``folder``.

    ``method_name`` None or ``'gray'`` scores the baseline alone.

    Returns a JSON-ready report: ``{"method", "params", "folder", "results":
    {"gray": {...}, method: {...}}, "per_image": {...}, "skipped": [...]}``.
    ``sheet`` (a path) also writes a PNG contact sheet gray / result / truth.
    """
    from tinct.io import read_image
    from tinct.pipeline import run_array
    from tinct.registry import get_method

    method = None if method_name in (None, "gray") else get_method(method_name)
    if method is not None:
        why = check_method(method, reference)
        if why is not None:
            raise ParameterError(why)
    if limit is not None and limit < 1:
        raise ParameterError(f"limit: must be >= 1, got {limit}")
    job = None
    if method is not None:
        from tinct.pipeline import make_job

        side = {"reference": reference} if reference is not None and method.need("reference") != "none" else {}
        job = make_job(method, "colorize", inputs=side, params=params, max_pixels=max_pixels, provenance=False)
    params = job.params if job is not None else {}
    files = list_images(folder)
    gray_acc, acc = SetAccumulator(), SetAccumulator()
    skipped: list[dict] = []
    thumbs: list[tuple] = []
    done = 0
    for path in files:
        if limit is not None and done >= limit:
            break
        image = read_image(path, max_pixels=max_pixels)
        if is_grayscale(image.pixels):
            skipped.append({"image": path.name, "reason": "grayscale: no colour ground truth"})
            continue
        truth = to_float_rgb(image.pixels)
        lab = rgb2lab(truth)
        true_ab = lab[..., 1:]
        gray_rgb = lightness2rgb(lab[..., 0])
        gray_input = np.ascontiguousarray(gray_rgb[..., 0])
        weights = rebalance_weights(true_ab)
        gray_acc.add(path.name, gray_rgb, truth, np.zeros_like(true_ab), true_ab, weights)
        done += 1
        if progress is not None:
            progress(1)
        if method is None:
            if sheet is not None and len(thumbs) < SHEET_ROWS:
                thumbs.append((gray_rgb, gray_rgb, truth))
            continue
        t0 = time.perf_counter()
        result = run_array(job, gray_input)
        seconds = time.perf_counter() - t0
        pred = to_float_rgb(result[..., :3] if result.ndim == 3 and result.shape[2] == 4 else result)
        if pred.shape != truth.shape:
            raise TinctError(f"method {method_name!r} returned shape {pred.shape} for {path.name} of {truth.shape}")
        acc.add(path.name, pred, truth, rgb2lab(pred)[..., 1:], true_ab, weights, seconds)
        if sheet is not None and len(thumbs) < SHEET_ROWS:
            thumbs.append((gray_rgb, pred, truth))
    if done == 0:
        raise TinctError(f"{folder}: no colour images to evaluate")
    report = {
        "method": method_name or "gray",
        "params": params,
        "folder": str(folder),
        "results": {"gray": gray_acc.summary()},
        "per_image": {"gray": gray_acc.per_image},
        "skipped": skipped,
    }
    if method is not None:
        report["results"][method_name] = with_gray_deltas(acc.summary(), report["results"]["gray"])
        report["per_image"][method_name] = acc.per_image
    if sheet is not None:
        write_sheet(sheet, thumbs)
        report["sheet"] = str(sheet)
    return report


# Measures reported as the method's value minus the gray baseline's of the same run: gray is a strong
# baseline for PSNR and AuC (any wrong colour costs more than none), so a method is judged by the difference.
GRAY_DELTAS = ("psnr", "auc", "auc_rebal", "colorfulness", "spurious")


def with_gray_deltas(result: dict, gray: dict) -> dict:
    """``result`` plus ``<key>_vs_gray`` = result - gray for PSNR, AuC, AuC-rebalanced, colourfulness, spurious %."""
    out = dict(result)
    for key in GRAY_DELTAS:
        if key in result and key in gray:
            out[f"{key}_vs_gray"] = float(result[key]) - float(gray[key])
    return out


def write_sheet(path, rows: list[tuple], height: int = SHEET_HEIGHT, gap: int = 4) -> None:
    """A PNG contact sheet: one row per image, columns gray / result / truth, each ``height`` px high."""
    import cv2

    from tinct.io import write_image

    lines = []
    for row in rows:
        tiles = []
        for img in row:
            h, w = img.shape[:2]
            tw = max(1, round(w * height / h))
            tiles.append(cv2.resize(img, (tw, height), interpolation=cv2.INTER_AREA))
            tiles.append(np.ones((height, gap, 3), np.float32))
        lines.append(np.concatenate(tiles[:-1], axis=1))
    width = max(line.shape[1] for line in lines)
    canvas = np.ones((len(lines) * (height + gap) - gap, width, 3), np.float32)
    for i, line in enumerate(lines):
        canvas[i * (height + gap): i * (height + gap) + height, : line.shape[1]] = line
    write_image(path, (np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8), overwrite=True)


COLUMNS = [("psnr", "PSNR dB", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"), ("auc", "AuC %", "{:.2f}"),
           ("auc_rebal", "AuC rebal %", "{:.2f}"), ("colorfulness", "colourful", "{:.1f}"),
           ("colorfulness_truth", "colourful truth", "{:.1f}"), ("spurious", "spurious %", "{:.2f}"),
           ("psnr_vs_gray", "PSNR-gray", "{:+.2f}"), ("auc_vs_gray", "AuC-gray", "{:+.2f}"),
           ("auc_rebal_vs_gray", "AuC rebal-gray", "{:+.2f}"), ("colorfulness_vs_gray", "colourful-gray", "{:+.1f}"),
           ("spurious_vs_gray", "spurious-gray", "{:+.2f}"), ("ab_hist_js_divergence", "ab-hist JS", "{:.4f}"),
           ("ab_hist_intersection", "ab-hist int.", "{:.3f}"), ("seconds_per_image", "s/image", "{:.3f}")]


def format_table(report: dict) -> str:
    """The results as a Markdown table, one row per method (gray first)."""
    head = "| method | images | " + " | ".join(c[1] for c in COLUMNS) + " |"
    sep = "|---" * (len(COLUMNS) + 2) + "|"
    rows = [head, sep]
    for name, res in report["results"].items():
        cells = [fmt.format(res[key]) if key in res else "-" for key, _, fmt in COLUMNS]
        rows.append(f"| {name} | {res['images']} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
