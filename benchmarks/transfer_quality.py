"""Colour-transfer quality, ground truth, speed and memory: tinct's methods and the peers side by side.

Sections (all in one run, every method measured on the same inputs):

1. quality -- every pair of ``data/eval/transfer-pairs/pairs.csv``: sliced Wasserstein distance of the
   result's Lab distribution to the reference's (``swd``, lower = colours closer to the reference),
   SSIM of result L vs target L (``ssim_l``) and gradient-magnitude correlation (``edge``), the result's
   mean CIELAB chroma over the reference's (``chroma``, 1 = as colourful as the reference), plus the
   wall time; then the mean over pairs. A PNG contact sheet per pair goes to OUTDIR. Images above
   ``--pair-mp`` (default 0.5) megapixels are downscaled first, so the whole table takes minutes.
2. truth -- a known grading (random 3x3 colour matrix plus per-channel tone curves) is applied to a
   Kodak photo; the graded photo is the reference for an ungraded crop of the same photo, and each
   method's result is compared with the graded crop (mean CIEDE2000; "none" = the ungraded crop).
3. speed -- wall time at 0.25/1/4/12 MP next to three floors: ``np.add`` (one uint8 pass),
   ``float round trip`` (uint8 -> float32 -> uint8), ``jpeg decode+encode`` (decode, +1, encode) and
   ``Lab round trip`` (tinct's rgb2lab then lab2rgb: the floor of any method that works in CIELAB).
4. memory -- peak resident memory added by one call at 12 MP, each method in a fresh subprocess
   (``VmHWM`` after the call minus before it, inputs already loaded and imports done).
5. banding -- smooth gradients (what a defocused background is): 16 gentle ramps between colours of a
   blurred photo are appended below the photo (ocean_day, reference ocean_sunset) and each ramp row of the
   result is scored along the ramp in CIELAB. ``steps`` (uint8 ramps, the usual input) is the number of
   one-pixel steps larger than 1 Delta E per ramp -- the input ramps have none (their largest step is
   0.86), so each is a false contour the method made; ``max_step`` is the largest step (mean over ramps).
   ``kinks`` (float32 ramps, so no 8-bit steps at all) counts pixels whose second difference along the
   ramp exceeds the ramp's median first difference, i.e. the slope of the colour map jumps there.

Peers: color-matcher ``reinhard``/``mvgd``/``mkl``/``hm-mkl-hm`` (fed float [0, 1], as uint8 input makes
its reinhard return NaN) and python-color-transfer ``lab`` / ``pdf`` (with regrain, as in its README).

Usage::

    python benchmarks/transfer_quality.py OUTDIR                 # everything
    python benchmarks/transfer_quality.py OUTDIR --sections quality truth
    python benchmarks/transfer_quality.py OUTDIR --sections speed memory --sizes 0.25 1 4 12
    python benchmarks/transfer_quality.py OUTDIR --sections banding --methods "tinct sliced" "tinct mkl"
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINCT_SHARED", REPO.parent / "shared"))
PAIRS = SHARED / "data" / "eval" / "transfer-pairs"
KODAK = SHARED / "data" / "eval" / "kodak24"

# tinct variants worth comparing beyond the registered defaults
VARIANTS: dict[str, tuple[str, dict]] = {
    "tinct reinhard": ("reinhard", {}),
    "tinct mkl": ("mkl", {}),
    "tinct mkl lab": ("mkl", {"color_space": "lab"}),
    "tinct gmm": ("gmm", {}),
    "tinct gmm mean": ("gmm", {"mode": "mean"}),
    "tinct gmm lab": ("gmm", {"color_space": "lab"}),
    "tinct gmm greedy": ("gmm", {"matching": "greedy"}),
    "tinct gmm K=5": ("gmm", {"n_components": 5}),
    "tinct gmm T=4": ("gmm", {"temperature": 4.0}),
    "tinct sliced": ("sliced", {}),
    "tinct sliced lab": ("sliced", {"color_space": "lab"}),
    "tinct sliced r=8": ("sliced", {"regrain": 8}),
    "tinct sliced raw": ("sliced", {"regrain": 0}),
    "tinct superpixel": ("superpixel", {}),
    "tinct superpixel keep L": ("superpixel", {"gamut": "chroma"}),  # the paper: target's L, chroma shrunk
}
TIMED = ["tinct reinhard", "tinct mkl", "tinct gmm", "tinct gmm lab", "tinct sliced"]


def tinct_methods(names=None) -> dict[str, Callable]:
    """The variants above, plus every other registered transfer method with its defaults."""
    from tinct.registry import get_method, list_methods

    variants = dict(VARIANTS)
    covered = {name for name, _ in VARIANTS.values()}
    for m in list_methods("transfer"):
        if m.name not in covered:
            variants[f"tinct {m.name}"] = (m.name, {})
    out = {}
    for label, (name, params) in variants.items():
        if names is None or label in names:
            method = get_method(name, "transfer")
            out[label] = lambda t, r, m=method, p=params: m(t, r, **p)
    return out


# Scored here: every peer method that transfers colour distributions.
SCORED_PEERS = ("color-matcher reinhard", "color-matcher mvgd", "color-matcher mkl", "color-matcher hm-mkl-hm",
                "python-color-transfer lab", "python-color-transfer pdf+regrain")


def peer_methods(names=None) -> dict[str, Callable]:
    from peers import transfer_peers

    found, missing = transfer_peers()
    for note in missing:
        print(f"not installed: {note}", file=sys.stderr)
    return {k: v for k, v in found.items() if k in SCORED_PEERS and (names is None or k in names)}


def all_methods(names=None) -> dict[str, Callable]:
    return {**tinct_methods(names), **peer_methods(names)}


def read_rgb(path: Path) -> np.ndarray:
    from tinct.io import read_image

    px = read_image(path).pixels
    if px.ndim == 2:
        px = np.repeat(px[..., None], 3, 2)
    if px.dtype != np.uint8:
        px = (px / 257 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(px[..., :3])


def resize_to(img: np.ndarray, megapixels: float) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = (megapixels * 1e6 / (h * w)) ** 0.5
    size = (max(8, round(w * s)), max(8, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)


def timed(func, t, r):
    gc.collect()
    start = time.perf_counter()
    out = func(t, r)
    return out, time.perf_counter() - start


# ------------------------------------------------------------------ 1. quality
def contact_sheet(path: Path, tiles: list[tuple[str, np.ndarray]], height: int = 240, per_row: int = 6) -> None:
    import cv2

    from tinct.io import write_image

    cells = []
    for label, img in tiles:
        h, w = img.shape[:2]
        small = cv2.resize(img, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)
        cell = np.full((height + 22, max(small.shape[1], 8 * len(label) + 8), 3), 255, np.uint8)
        cell[22:, : small.shape[1]] = small
        cv2.putText(cell, label, (3, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cells.append(cell)
    rows = []
    for i in range(0, len(cells), per_row):
        row = cells[i : i + per_row]
        rows.append(np.concatenate(row, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    write_image(path, np.concatenate(rows, axis=0), overwrite=True)


def shrink(img: np.ndarray, max_mp: float) -> np.ndarray:
    """Downscale (area filter) to at most ``max_mp`` megapixels; smaller images are returned as they are."""
    h, w = img.shape[:2]
    return img if h * w <= max_mp * 1e6 else resize_to(img, max_mp)


def mean_chroma(rgb: np.ndarray) -> float:
    """Mean CIELAB chroma of an image (how colourful it is)."""
    from tinct.color import rgb2lab

    ab = rgb2lab(rgb)[..., 1:]
    return float(np.hypot(ab[..., 0], ab[..., 1]).mean())


def quality(outdir: Path, methods: dict[str, Callable], max_mp: float = 0.5) -> list[dict]:
    from tinct.metrics import delta_e, transfer_scores

    rows = []
    with open(PAIRS / "pairs.csv") as fh:
        pairs = list(csv.DictReader(fh))
    for pair in pairs:
        target = shrink(read_rgb(PAIRS / pair["target"]), max_mp)
        reference = shrink(read_rgb(PAIRS / pair["reference"]), max_mp)
        tiles = [("target", target), ("reference", reference)]
        expected = shrink(read_rgb(PAIRS / pair["expected_result"]), max_mp) if pair["expected_result"] else None
        if expected is not None:
            tiles.append(("published result", expected))
        base = transfer_scores(target, target, reference)
        ref_chroma = mean_chroma(reference)
        rows.append({"pair": pair["pair_id"], "method": "none (target)", **base,
                     "chroma": mean_chroma(target) / ref_chroma, "seconds": 0.0})
        for label, func in methods.items():
            try:
                out, sec = timed(func, target, reference)
            except Exception as exc:  # a failing peer is a result
                rows.append({"pair": pair["pair_id"], "method": label, "error": f"{type(exc).__name__}: {exc}"})
                continue
            row = {"pair": pair["pair_id"], "method": label, **transfer_scores(out, target, reference),
                   "chroma": mean_chroma(out) / ref_chroma, "seconds": sec}
            if expected is not None and expected.shape == out.shape:
                row["de_published"] = delta_e(out, expected)
            rows.append(row)
            tiles.append((label, out))
        contact_sheet(outdir / f"{pair['pair_id']}.png", tiles)
    return rows


def summarize(rows: list[dict], keys: list[str]) -> list[dict]:
    by: dict[str, list[dict]] = {}
    for r in rows:
        if "error" not in r:
            by.setdefault(r["method"], []).append(r)
    out = []
    for m, rs in by.items():
        out.append({"method": m, "n": len(rs), **{k: float(np.mean([r[k] for r in rs])) for k in keys if k in rs[0]}})
    return out


# ------------------------------------------------------------------ 2. ground truth
def grade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random but plausible grading: 3x3 matrix (rows sum to ~1) then per-channel gamma and gain."""
    m = np.eye(3) + rng.normal(0, 0.12, (3, 3))
    m /= m.sum(1, keepdims=True)
    gamma = rng.uniform(0.7, 1.4, 3)
    gain = rng.uniform(0.85, 1.1, 3)
    x = np.clip((img / 255.0) @ m.T, 0, 1) ** gamma * gain
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def truth(methods: dict[str, Callable], n_images: int = 4) -> list[dict]:
    from tinct.metrics import delta_e

    rows = []
    rng = np.random.default_rng(2024)
    files = sorted(KODAK.glob("*.jpg"))[:: max(1, 24 // n_images)][:n_images]
    for path in files:
        photo = read_rgb(path)
        graded = grade(photo, rng)
        h, w = photo.shape[:2]
        # the crop: the left 55% of the photo, a different framing from the full reference
        crop = np.s_[:, : int(w * 0.55)]
        target, truth_img = np.ascontiguousarray(photo[crop]), np.ascontiguousarray(graded[crop])
        rows.append({"image": path.stem, "method": "none (target)", "de2000": delta_e(target, truth_img)})
        for label, func in methods.items():
            try:
                out, _ = timed(func, target, graded)
                rows.append({"image": path.stem, "method": label, "de2000": delta_e(out, truth_img)})
            except Exception as exc:
                rows.append({"image": path.stem, "method": label, "error": f"{type(exc).__name__}: {exc}"})
    return rows


# ------------------------------------------------------------------ 3. speed
def floors() -> dict[str, Callable]:
    from tinct.color import lab2rgb, rgb2lab
    from tinct.pixels import from_float, to_float_rgb

    def jpeg(t, r):
        import cv2

        ok, buf = cv2.imencode(".jpg", t)
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        ok, buf = cv2.imencode(".jpg", np.add(img, 1, dtype=np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
        return buf

    return {
        "floor np.add": lambda t, r: np.add(t, 1, dtype=np.uint8),
        "floor float round trip": lambda t, r: from_float(to_float_rgb(t), np.uint8),
        "floor jpeg decode+encode": jpeg,
        "floor Lab round trip": lambda t, r: lab2rgb(rgb2lab(t), dtype=np.uint8),
    }


def speed_inputs(mp: float) -> tuple[np.ndarray, np.ndarray]:
    target = read_rgb(PAIRS / "jrosebr1" / "fallingwater.jpg")
    reference = read_rgb(PAIRS / "jrosebr1" / "autumn.jpg")
    return resize_to(target, mp), resize_to(reference, 1.0)


def speed(methods: dict[str, Callable], sizes: list[float], cap: float = 60.0) -> list[dict]:
    rows = []
    slow: set[str] = set()
    cands = {**floors(), **methods, "sklearn GMM fit 20k + predict_proba (posteriors only)": sklearn_gmm}
    for mp in sizes:
        t, r = speed_inputs(mp)
        for label, func in cands.items():
            if label in slow:
                rows.append({"size_mp": mp, "method": label, "seconds": float("nan"), "note": f"skipped (> {cap:.0f} s)"})
                continue
            reps = 3 if mp <= 1 else 1
            best = min(timed(func, t, r)[1] for _ in range(reps))
            if best > cap / 3:
                slow.add(label)
            rows.append({"size_mp": mp, "method": label, "seconds": best})
    return rows


def sklearn_gmm(t, r):
    """The baseline the issue names: scikit-learn EM on a 20k subsample, then predict_proba on every pixel."""
    from sklearn.mixture import GaussianMixture

    x = t.reshape(-1, 3)
    idx = np.random.default_rng(0).integers(0, x.shape[0], 20000)
    g = GaussianMixture(3, covariance_type="full", random_state=0).fit(x[idx] / 255.0)
    return g.predict_proba(x / 255.0)


# ------------------------------------------------------------------ 4. memory
def memory(labels: list[str], mp: float, timeout: float = 240.0) -> list[dict]:
    rows = []
    for label in labels:
        try:
            proc = subprocess.run([sys.executable, __file__, "--memory-child", label, str(mp)], capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            rows.append({"method": label, "error": f"not measured: took over {timeout:.0f} s"})
            continue
        if proc.returncode != 0:
            rows.append({"method": label, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"})
            continue
        before, after, sec = map(float, proc.stdout.split())
        rows.append({"method": label, "peak_added_mb": after - before, "peak_total_mb": after, "seconds": sec})
    return rows


def _hwm_mb() -> float:
    """This process's peak resident set (VmHWM), MB. Unlike ``ru_maxrss`` it is not inherited across exec."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(label: str, mp: float) -> None:
    funcs = {**floors(), **all_methods([label])}
    func = funcs[label]
    t, r = speed_inputs(mp)
    small_t, small_r = t[:64, :64].copy(), r[:64, :64].copy()
    func(small_t, small_r)  # imports and caches outside the measurement
    gc.collect()
    before = _hwm_mb()
    start = time.perf_counter()
    func(t, r)
    sec = time.perf_counter() - start
    print(before, _hwm_mb(), sec)


# ------------------------------------------------------------------ 5. banding
def banding_inputs(n_ramps: int = 16, rows: int = 8, width: int = 768):
    """A photo with ``n_ramps`` smooth ramps below it: (float32 image, uint8 image, reference, photo rows).

    Each ramp runs from a colour of the heavily blurred photo to a colour about 15 codes away, the slope
    of a defocused background; the photo above makes the colour distribution a real one.
    """
    import cv2

    photo = read_rgb(PAIRS / "jrosebr1" / "ocean_day.jpg")
    photo = cv2.resize(photo, (width, width * 2 // 3), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    h, w = photo.shape[:2]
    blur = cv2.GaussianBlur(photo, (0, 0), 25)
    rng = np.random.default_rng(1)
    x = np.linspace(0, 1, w, dtype=np.float32)[:, None]
    ramps = []
    for _ in range(n_ramps):
        a = blur[rng.integers(h), rng.integers(w)]
        b = np.clip(a + rng.normal(0, 0.06, 3), 0, 1).astype(np.float32)
        ramps.append(np.repeat((a * (1 - x) + b * x)[None], rows, 0))
    img = np.concatenate([photo, *ramps], 0)
    return img, (img * 255 + 0.5).astype(np.uint8), read_rgb(PAIRS / "jrosebr1" / "ocean_sunset.jpg"), h


def ramp_profiles(out: np.ndarray, h0: int, rows: int = 8) -> np.ndarray:
    """The middle row of each ramp below row ``h0``, in CIELAB float64: (n_ramps, width, 3)."""
    from tinct.color import rgb2lab
    from tinct.pixels import to_float_rgb

    return rgb2lab(to_float_rgb(out[h0 + rows // 2 :: rows])).astype(np.float64)


def banding_scores(out_u8: np.ndarray, out_f32: np.ndarray, h0: int) -> dict[str, float]:
    """``steps``/``max_step`` on the result of the uint8 ramps, ``kinks`` on the result of the float ones."""
    d1 = np.linalg.norm(np.diff(ramp_profiles(out_u8, h0), axis=1), axis=2)
    prof = ramp_profiles(out_f32, h0)
    f1 = np.linalg.norm(np.diff(prof, axis=1), axis=2)
    f2 = np.linalg.norm(np.diff(prof, 2, axis=1), axis=2)
    kinks = (f2 > np.maximum(np.median(f1, axis=1, keepdims=True), 1e-6)).sum(1)
    return {"steps": float((d1 > 1.0).sum(1).mean()), "max_step": float(d1.max(1).mean()),
            "kinks": float(kinks.mean())}


def banding(methods: dict[str, Callable]) -> list[dict]:
    f32, u8, ref, h0 = banding_inputs()
    rows = [{"method": "none (target)", **banding_scores(u8, f32, h0)}]
    for label, func in methods.items():
        try:
            start = time.process_time()
            out_u8 = func(u8, ref)
            cpu = time.process_time() - start
            rows.append({"method": label, **banding_scores(out_u8, func(f32, ref), h0), "cpu_s": cpu})
        except Exception as exc:
            rows.append({"method": label, "error": f"{type(exc).__name__}: {exc}"})
    return rows


# ------------------------------------------------------------------ printing
def table(rows: list[dict], cols: list[str], title: str) -> str:
    lines = [f"\n## {title}"]
    width = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
    lines.append("  ".join(f"{c:<{width[c]}}" for c in cols))
    for r in rows:
        cells = [f"{_fmt(r.get(c)):<{width[c]}}" for c in cols]
        if "error" in r:
            cells.append(r["error"])
        if "note" in r:
            cells.append(r["note"])
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", nargs="?", type=Path, help="where contact sheets go (not the repository)")
    parser.add_argument("--sections", nargs="+", default=["quality", "truth", "speed", "memory", "banding"],
                        choices=["quality", "truth", "speed", "memory", "banding"])
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.25, 1, 4, 12])
    parser.add_argument("--methods", nargs="+", default=None, help="labels to run (default: all)")
    parser.add_argument("--pair-mp", type=float, default=0.5, help="quality: pairs larger than this are downscaled")
    parser.add_argument("--truth-images", type=int, default=4, help="truth: number of Kodak photos graded")
    parser.add_argument("--memory-child", nargs=2, metavar=("LABEL", "MP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child[0], float(args.memory_child[1]))
        return 0
    if args.outdir is None:
        parser.error("OUTDIR is required")
    args.outdir.mkdir(parents=True, exist_ok=True)
    methods = all_methods(args.methods)
    print(f"# transfer benchmark  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if "quality" in args.sections:
        rows = quality(args.outdir, methods, args.pair_mp)
        print(table(rows, ["pair", "method", "swd", "ssim_l", "edge", "chroma", "de_published", "seconds"],
                    "quality per pair"))
        summ = sorted(summarize(rows, ["swd", "ssim_l", "edge", "chroma", "seconds"]), key=lambda r: r["swd"])
        print(table(summ, ["method", "n", "swd", "ssim_l", "edge", "chroma", "seconds"],
                    "quality, mean over pairs (swd lower = closer to reference; ssim_l, edge higher = structure kept)"))
        print(f"\ncontact sheets: {args.outdir}/<pair>.png")
    if "truth" in args.sections:
        rows = truth(methods, args.truth_images)
        summ = sorted(summarize(rows, ["de2000"]), key=lambda r: r["de2000"])
        print(table(summ, ["method", "n", "de2000"], "known grading: mean CIEDE2000 to the graded truth (lower = better)"))
    if "speed" in args.sections:
        timed_methods = {k: v for k, v in methods.items() if k in TIMED or not k.startswith("tinct")}
        rows = speed(timed_methods, args.sizes)
        fl = {r["size_mp"]: r["seconds"] for r in rows if r["method"] == "floor jpeg decode+encode"}
        fa = {r["size_mp"]: r["seconds"] for r in rows if r["method"] == "floor np.add"}
        for r in rows:
            r["x_jpeg_floor"] = r["seconds"] / fl[r["size_mp"]]
            r["x_add_floor"] = r["seconds"] / fa[r["size_mp"]]
        print(table(rows, ["size_mp", "method", "seconds", "x_jpeg_floor", "x_add_floor"], "speed (wall s, best of 3 <= 1 MP)"))
    if "banding" in args.sections:
        rows = banding(methods)
        print(table(rows, ["method", "steps", "max_step", "kinks", "cpu_s"],
                    "banding on smooth ramps (steps > 1 dE and kinks per 768-px ramp, lower = smoother)"))
    if "memory" in args.sections:
        # every registered transfer method with its defaults (superpixel included), the timed variants and the peers
        defaults = {k for k, (_, p) in VARIANTS.items() if not p} | {k for k in methods if k not in VARIANTS}
        labels = ["floor float round trip",
                  *[k for k in methods if k in TIMED or k in defaults or not k.startswith("tinct")]]
        labels = [k for k in labels if args.methods is None or k in args.methods or k.startswith("floor")]
        mp = max(args.sizes)
        rows = memory(labels, mp)
        print(table(rows, ["method", "peak_added_mb", "peak_total_mb", "seconds"], f"peak memory of one call at {mp} MP"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
