"""Colorization metrics, per image and pooled over a set.

* PSNR and SSIM of the RGB result against the ground truth (data range 1).
* AuC of the per-pixel ab error curve (ECCV16 Sec. 3.1): the fraction of
  pixels whose ab L2 error is within a threshold t, for t = 0, 1, ..., 150,
  integrated (trapezoid) and divided by 150, in percent. A perfect result has
  AuC 100. The *rebalanced* AuC weights every pixel by the inverse ImageNet
  prior probability of its true ab bin (nearest of the 313), as ECCV16's
  "class-rebalanced" column does, so rare colours count as much as common ones.
* Colorfulness (Hasler & Suesstrunk 2003):
  ``sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mu_rg^2 + mu_yb^2)`` with
  ``rg = R - G``, ``yb = (R + G) / 2 - B`` on 0..255 values.
* Spurious-colour rate: the percentage of the pixels that are neutral in
  truth (CIELAB chroma ``sqrt(a^2 + b^2)`` below 8) whose prediction is vivid
  (chroma above 25): what a user sees as colour invented where there is none
  (a red road, a magenta sky). Gray scores 0; pooled over the set as counts.
* ab histogram distance over the set: 23 x 23 histograms of a and b (bins
  of width 10 centred on -110..110, values beyond clipped into the edge bins)
  pooled over all pixels of all images, compared by Jensen-Shannon
  divergence (bits, 0..1) and by histogram intersection.

Pooling: AuC, the spurious-colour rate and the histograms accumulate over all pixels of the set
(streaming, via :class:`SetAccumulator`); PSNR, SSIM and colorfulness are means
of the per-image values.

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
.. [2] D. Hasler, S. Suesstrunk, "Measuring colourfulness in natural images",
       Proc. SPIE 5007, Human Vision and Electronic Imaging VIII, 2003.
.. [3] Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
       assessment: from error visibility to structural similarity", IEEE TIP 13(4), 2004.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tinct.errors import ParameterError

MAX_THRESHOLD = 150
NEUTRAL_CHROMA = 8.0
VIVID_CHROMA = 25.0
HIST_EDGES = np.arange(-115.0, 116.0, 10.0)  # 24 edges -> 23 bins centred on -110..110


@lru_cache(maxsize=1)
def prior() -> np.ndarray:
    """The ImageNet prior over the 313 bins (float64, sums to 1)."""
    from tinct.metrics._prior import IMAGENET_PRIOR

    p = np.array(IMAGENET_PRIOR, dtype=np.float64)
    p.setflags(write=False)
    return p


def _check_pair(pred: np.ndarray, truth: np.ndarray) -> None:
    if pred.shape != truth.shape:
        raise ParameterError(f"prediction: shape {pred.shape} differs from the ground truth's {truth.shape}")


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of two float RGB images in [0, 1] (inf when identical)."""
    _check_pair(pred, truth)
    mse = float(np.mean((pred.astype(np.float64) - truth.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean SSIM over the RGB channels (Wang et al. 2004, scikit-image's implementation, data range 1)."""
    from skimage.metrics import structural_similarity

    _check_pair(pred, truth)
    if min(pred.shape[:2]) < 7:
        raise ParameterError(f"prediction: SSIM needs at least 7x7 pixels, got {pred.shape[1]}x{pred.shape[0]}")
    return float(structural_similarity(pred, truth, channel_axis=2, data_range=1.0))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of a float RGB image in [0, 1] (0 for gray)."""
    x = rgb.astype(np.float64) * 255.0
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def spurious_counts(pred_ab: np.ndarray, true_ab: np.ndarray, neutral: float = NEUTRAL_CHROMA,
                    vivid: float = VIVID_CHROMA) -> tuple[int, int]:
    """``(spurious, neutral)``: pixels neutral in truth (chroma < ``neutral``) that come out vivid, and all neutral ones.

    Chroma is the CIELAB ``sqrt(a^2 + b^2)``; a pixel is spurious when its
    true chroma is below ``neutral`` and its predicted chroma above ``vivid``.
    """
    _check_pair(pred_ab, true_ab)
    true_c2 = np.einsum("...i,...i->...", true_ab.astype(np.float32), true_ab.astype(np.float32))
    pred_c2 = np.einsum("...i,...i->...", pred_ab.astype(np.float32), pred_ab.astype(np.float32))
    neutral_mask = true_c2 < np.float32(neutral) ** 2
    n_neutral = int(np.count_nonzero(neutral_mask))
    n_spurious = int(np.count_nonzero(neutral_mask & (pred_c2 > np.float32(vivid) ** 2)))
    return n_spurious, n_neutral


def spurious_rate(pred_ab: np.ndarray, true_ab: np.ndarray) -> float:
    """Spurious-colour rate in percent (see the module notes); 0 when the truth has no neutral pixel."""
    s, n = spurious_counts(pred_ab, true_ab)
    return 100.0 * s / n if n else 0.0


def ab_error_counts(pred_ab: np.ndarray, true_ab: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted counts of pixels by ``ceil(ab error)``: index t holds the mass with t-1 < error <= t.

    The last entry (151) collects errors above 150. ``cumsum`` of this gives
    the (unnormalised) cumulative curve at t = 0..150.
    """
    _check_pair(pred_ab, true_ab)
    err = np.sqrt(((pred_ab.astype(np.float64) - true_ab) ** 2).sum(axis=-1)).ravel()
    idx = np.minimum(np.ceil(err), MAX_THRESHOLD + 1).astype(np.int64)
    w = None if weights is None else np.asarray(weights, np.float64).ravel()
    return np.bincount(idx, weights=w, minlength=MAX_THRESHOLD + 2)


def auc_from_counts(counts: np.ndarray) -> float:
    """AuC in percent of the cumulative error curve for thresholds 0..150 (trapezoid, normalised by 150)."""
    total = counts.sum()
    if total <= 0:
        raise ParameterError("counts: no pixels")
    curve = np.cumsum(counts[: MAX_THRESHOLD + 1]) / total
    return float(100.0 * np.trapezoid(curve, dx=1.0) / MAX_THRESHOLD)


def rebalance_weights(true_ab: np.ndarray) -> np.ndarray:
    """Per-pixel weight 1 / p(bin of the true ab) with the ImageNet prior (nearest of the 313 bins)."""
    from tinct.color import encode_nearest

    return 1.0 / prior()[encode_nearest(true_ab, "313")]


def auc(pred_ab: np.ndarray, true_ab: np.ndarray, rebalanced: bool = False) -> float:
    """AuC (percent) of one prediction's ab error curve; see the module notes."""
    w = rebalance_weights(true_ab) if rebalanced else None
    return auc_from_counts(ab_error_counts(pred_ab, true_ab, w))


def ab_histogram(ab: np.ndarray) -> np.ndarray:
    """Counts of ab values in 23 x 23 bins of width 10 (centres -110..110), edges clipped in."""
    a = np.clip(ab[..., 0].ravel(), -114.999, 114.999)
    b = np.clip(ab[..., 1].ravel(), -114.999, 114.999)
    hist, _, _ = np.histogram2d(a, b, bins=[HIST_EDGES, HIST_EDGES])
    return hist


def histogram_distances(h_pred: np.ndarray, h_true: np.ndarray) -> dict:
    """Jensen-Shannon divergence (bits) and intersection of two histograms (normalised here)."""
    p = h_pred.ravel() / max(h_pred.sum(), 1e-300)
    q = h_true.ravel() / max(h_true.sum(), 1e-300)
    m = 0.5 * (p + q)

    def kl(x, y):
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / y[nz])))

    return {"js_divergence": 0.5 * kl(p, m) + 0.5 * kl(q, m), "intersection": float(np.minimum(p, q).sum())}


class SetAccumulator:
    """Streams images of one method and pools the metrics over the set."""

    def __init__(self):
        self.counts = np.zeros(MAX_THRESHOLD + 2)
        self.counts_rebal = np.zeros(MAX_THRESHOLD + 2)
        self.hist_pred = np.zeros((23, 23))
        self.hist_true = np.zeros((23, 23))
        self.spurious = 0
        self.neutral = 0
        self.per_image: list[dict] = []

    def add(self, name: str, pred_rgb: np.ndarray, true_rgb: np.ndarray, pred_ab: np.ndarray, true_ab: np.ndarray,
            weights: np.ndarray | None = None, seconds: float | None = None) -> dict:
        """Add one image: float RGB in [0, 1] and ab of prediction and truth; ``weights`` = rebalancing weights."""
        if weights is None:
            weights = rebalance_weights(true_ab)
        c = ab_error_counts(pred_ab, true_ab)
        cr = ab_error_counts(pred_ab, true_ab, weights)
        self.counts += c
        self.counts_rebal += cr
        self.hist_pred += ab_histogram(pred_ab)
        self.hist_true += ab_histogram(true_ab)
        n_spur, n_neutral = spurious_counts(pred_ab, true_ab)
        self.spurious += n_spur
        self.neutral += n_neutral
        row = {"image": name, "psnr": psnr(pred_rgb, true_rgb), "ssim": ssim(pred_rgb, true_rgb),
               "auc": auc_from_counts(c), "auc_rebal": auc_from_counts(cr),
               "colorfulness": colorfulness(pred_rgb), "colorfulness_truth": colorfulness(true_rgb),
               "spurious": 100.0 * n_spur / n_neutral if n_neutral else 0.0}
        if seconds is not None:
            row["seconds"] = seconds
        self.per_image.append(row)
        return row

    def summary(self) -> dict:
        if not self.per_image:
            raise ParameterError("evaluation: no images were evaluated")
        rows = self.per_image
        finite = [r["psnr"] for r in rows if np.isfinite(r["psnr"])]
        out = {
            "images": len(rows),
            "psnr": float(np.mean(finite)) if finite else float("inf"),
            "ssim": float(np.mean([r["ssim"] for r in rows])),
            "auc": auc_from_counts(self.counts),
            "auc_rebal": auc_from_counts(self.counts_rebal),
            "colorfulness": float(np.mean([r["colorfulness"] for r in rows])),
            "colorfulness_truth": float(np.mean([r["colorfulness_truth"] for r in rows])),
            "spurious": 100.0 * self.spurious / self.neutral if self.neutral else 0.0,
        }
        out.update({f"ab_hist_{k}": v for k, v in histogram_distances(self.hist_pred, self.hist_true).items()})
        secs = [r["seconds"] for r in rows if "seconds" in r]
        if secs:
            out["seconds_per_image"] = float(np.mean(secs))
        return out
