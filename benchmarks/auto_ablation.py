"""Ablation and calibration of automatic colorization's decoding (issue 17).

What makes ``auto`` paint vivid wrong colours, and how much of it decoding can take back: on a held-out
slice of the *training distribution* (members of tar shards in ``../shared/data/train``, never the
evaluation sets), the network runs once per input size and every decoding is scored on its logits:

* temperature of the annealed mean,
* decode-time logit adjustment ``alpha log prior`` (undoes part of class rebalancing),
* vividness (0 = gray, 1 = calibrated, 2 = the plain annealed mean),
* the confidence measure's thresholds and the fallback gain (``--calibrate``: a grid search whose best
  point is printed as a ``Calibration(...)`` line to paste into ``tinct/colorize/decode.py``),
* network input size.

Columns: PSNR and rebalanced AuC minus the gray baseline's on the same images, colourfulness (truth's in
the header), spurious % (pixels neutral in truth, chroma < 8, predicted with chroma > 25). Scoring is
:mod:`tinct.metrics.colorization`'s; ab is brought to full size bilinearly (the pipeline's bilateral filter
changes these numbers by a few hundredths). Rerun for new weights::

    python benchmarks/auto_ablation.py                          # small slice (2 x 60 images), tinctnet-v2
    python benchmarks/auto_ablation.py --per-shard 200 --calibrate --weights tinct/models/weights/new.pt

Numbers are for one run on a shared, loaded 2-core CPU; nothing here is timed.
"""

from __future__ import annotations

import argparse
import io
import itertools
import math
import sys
import tarfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_SHARDS = ("scenes-128-000.tar", "photos-128-003.tar")


def shared_dir() -> Path:
    import os

    return Path(os.environ.get("TINCT_SHARED", ROOT.parent / "shared")) / "data"


def load_slice(shards=DEFAULT_SHARDS, per_shard: int = 60, seed: int = 17) -> list[np.ndarray]:
    """``per_shard`` colour images (float RGB) from each shard: members picked by a fixed seed, read with tarfile."""
    from PIL import Image

    from tinct.pixels import is_grayscale

    images = []
    for shard in shards:
        path = shared_dir() / "train" / shard
        with tarfile.open(path) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.lower().endswith(".jpg")]
            rng = np.random.default_rng(seed)
            picked = rng.choice(len(members), size=min(per_shard, len(members)), replace=False)
            for i in sorted(picked):
                data = tar.extractfile(members[i]).read()
                rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                if not is_grayscale(rgb):
                    images.append(rgb.astype(np.float32) / 255.0)
    return images


def predict(images, weights: str | None, input_size: int = 0, threads: int = 1):
    """Logits (Q, h, w) float16 per image, the gray inputs' L, and the model's bins and arch name."""
    from tinct.color import lightness2rgb, rgb2lab
    from tinct.colorize.cnn import _prepare, load_model
    from tinct.models import weights as registry

    if weights is None:
        entry = registry.default_entry()
        weights, name = str(registry.find(entry.name)), entry.name
    else:
        name = Path(weights).stem
    model = load_model(None, weights, threads=threads)
    out = []
    for rgb in images:
        lab = rgb2lab(rgb)
        gray = np.ascontiguousarray(lightness2rgb(lab[..., 0])[..., 0])
        _, lightness, l_in = _prepare(gray, model, input_size)
        logits = model.runner.run(l_in[None, None])["logits"][0]
        out.append((logits.astype(np.float16), lightness, lab))
    return out, model.bins, name


def score(preds, bins: str, decode) -> dict:
    """Pool the metrics over the slice for ``decode(logits) -> ab_low``; gray is scored on the same images.

    The measures of :mod:`tinct.metrics.colorization` (SSIM left out: it is slow and calibration does not use it).
    """
    from tinct.color import lab2rgb, rgb2lab
    from tinct.colorize.upsample import bilinear_upsample
    from tinct.metrics import colorization as M

    counts, counts_gray = np.zeros(M.MAX_THRESHOLD + 2), np.zeros(M.MAX_THRESHOLD + 2)
    psnr, psnr_gray, colourful, colourful_truth = [], [], [], []
    spurious = neutral = 0
    for logits, lightness, lab in preds:
        true_ab = lab[..., 1:]
        truth = lab2rgb(lab)
        w = M.rebalance_weights(true_ab)
        ab = bilinear_upsample(decode(logits.astype(np.float32)), lightness.shape)
        pred = np.clip(lab2rgb(np.concatenate([lightness[..., None], ab], axis=-1), gamut="chroma"), 0, 1)
        pred_ab = rgb2lab(pred)[..., 1:]
        gray = np.clip(lab2rgb(np.concatenate([lightness[..., None], np.zeros_like(ab)], axis=-1)), 0, 1)
        counts += M.ab_error_counts(pred_ab, true_ab, w)
        counts_gray += M.ab_error_counts(np.zeros_like(true_ab), true_ab, w)
        psnr.append(M.psnr(pred, truth))
        psnr_gray.append(M.psnr(gray, truth))
        colourful.append(M.colorfulness(pred))
        colourful_truth.append(M.colorfulness(truth))
        s, n = M.spurious_counts(pred_ab, true_ab)
        spurious, neutral = spurious + s, neutral + n
    return {"psnr_gray": float(np.mean(psnr) - np.mean(psnr_gray)),
            "auc_rebal_gray": M.auc_from_counts(counts) - M.auc_from_counts(counts_gray),
            "colorfulness": float(np.mean(colourful)), "truth_colorfulness": float(np.mean(colourful_truth)),
            "spurious": 100.0 * spurious / max(neutral, 1)}


def decoder(bins, temperature, vividness, cal):
    from tinct.colorize.decode import calibrated_decode

    return lambda logits: calibrated_decode(logits, bins, temperature, vividness, cal)[0]


def decoder_plain(bins, temperature, alpha):
    from tinct.colorize.decode import statistics

    return lambda logits: statistics(logits, bins, temperature, alpha, keys=("annealed",))["annealed"]


def table(rows: list[tuple[str, dict]]) -> str:
    out = ["| setting | PSNR-gray dB | AuC rebal-gray | colourful | spurious % |", "|---|---|---|---|---|"]
    for name, r in rows:
        out.append(f"| {name} | {r['psnr_gray']:+.2f} | {r['auc_rebal_gray']:+.2f} | {r['colorfulness']:.1f} | "
                   f"{r['spurious']:.2f} |")
    return "\n".join(out)


def objective(r: dict) -> float:
    """What calibration maximises: PSNR and rebalanced AuC against gray, with spurious colour above 1 % and a
    colourfulness below 25 penalised (the issue's targets: >= gray - 0.3 dB, >= gray + 5 points, <= 2 %, >= 25;
    1 % leaves a margin for sets other than the slice)."""
    return (r["psnr_gray"] + 0.2 * r["auc_rebal_gray"] - 0.5 * max(0.0, r["spurious"] - 1.0)
            - 1.0 * max(0.0, 25.0 - r["colorfulness"]))


GRID = {"lo": (8.0, 10.0, 14.0), "width": (10.0, 16.0), "cap": (20.0, 24.0), "fallback_alpha": (None, 0.5)}


def calibrate(preds, bins: str, temperature: float, base, grid=GRID, log=None):
    """Grid search of lo, hi, cap and the fallback colour; returns (best Calibration, its scores, all rows)."""
    from tinct.colorize.decode import with_calibration

    rows = []
    for lo, width, cap, fa in itertools.product(grid["lo"], grid["width"], grid["cap"], grid["fallback_alpha"]):
        cal = with_calibration(base, lo=lo, hi=lo + width, cap=cap, fallback_alpha=fa)
        rows.append((cal, score(preds, bins, decoder(bins, temperature, 1.0, cal))))
        if log is not None:
            log(f"{cal} {rows[-1][1]} objective {objective(rows[-1][1]):.3f}")
    best = max(rows, key=lambda r: objective(r[1]))
    return best[0], best[1], rows


def main(argv=None) -> int:
    from tinct.color import DEFAULT_TEMPERATURE
    from tinct.colorize.decode import calibration_for, with_calibration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="tinct weights file (default: the registry's default entry)")
    ap.add_argument("--shards", nargs="+", default=list(DEFAULT_SHARDS), help="training shards to draw from")
    ap.add_argument("--per-shard", type=int, default=60, help="images per shard (default 60: a small slice)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 192], help="network input sizes to compare")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calibrate", action="store_true", help="also grid-search the calibration and print the best")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    images = load_slice(args.shards, args.per_shard)
    preds, bins, name = predict(images, args.weights, args.sizes[0], args.threads)
    cal = calibration_for(name)
    T = DEFAULT_TEMPERATURE
    print(f"{len(images)} held-out training-distribution images ({', '.join(args.shards)}), model {name}, "
          f"{cal}")
    rows = [(f"annealed mean T={t:g}, alpha={a:g} (uncalibrated)", score(preds, bins, decoder_plain(bins, t, a)))
            for t, a in ((T, 0.0), (0.2, 0.0), (0.6, 0.0), (1.0, 0.0), (T, 0.25), (T, 0.5))]
    rows += [(f"calibrated, vividness {v:g}", score(preds, bins, decoder(bins, T, v, cal)))
             for v in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)]
    rows += [(f"calibrated, T={t:g}", score(preds, bins, decoder(bins, t, 1.0, cal))) for t in (0.2, 0.6)]
    for label, change in (("no chroma cap", {"cap": math.inf}), ("fallback: mean, alpha 0.5", {"fallback_alpha": 0.5}),
                          ("fallback: mean, alpha 1", {"fallback_alpha": 1.0}), ("fallback: neutral", {"fallback": 0.0}),
                          ("confidence from spread 16..30", {"lo": 16.0, "hi": 30.0})):
        rows.append((f"calibrated, {label}", score(preds, bins, decoder(bins, T, 1.0, with_calibration(cal, **change)))))
    for size in args.sizes[1:]:
        p2, _, _ = predict(images, args.weights, size, args.threads)
        rows.append((f"input {size} px, uncalibrated", score(p2, bins, decoder_plain(bins, T, 0.0))))
        rows.append((f"input {size} px, calibrated", score(p2, bins, decoder(bins, T, 1.0, cal))))
    print(f"truth colourfulness {rows[0][1]['truth_colorfulness']:.1f}; input {args.sizes[0]} px unless said")
    print(table(rows))
    if args.calibrate:
        best, res, _ = calibrate(preds, bins, T, cal)
        print(f"\nbest calibration for {name}: {best}")
        print(table([("best", res)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
