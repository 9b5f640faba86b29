"""Scribble colorization benchmark: quality against ground truth, and speed/memory against a plain SciPy solve.

Quality: for each Kodak image, the gray version (Rec. 601) is colorized from short strokes whose colours are
taken from the true photo, at 0.5 %, 1 % and 5 % pixel coverage; PSNR (RGB, 8 bit) against the truth, with the
gray image (ab = 0, the input's L) as baseline.

Speed: one image scaled to 0.25, 1, 4 and 12 MP with 1 % coverage, the whole ``scribble()`` call (weights,
matrix, solve, colour conversion) with tinct's solvers (``auto``: exact up to 0.5 MP, a proxy solve above;
``direct``: multifrontal LU in nested-dissection order; ``superlu``: SciPy's SuperLU in the same order, one
factorisation for both channels) and a plain SciPy direct solve (``spsolve`` once per channel on the same matrix, the
"vectorised SciPy" baseline of the issue). Every run is a fresh subprocess, so the peak
RSS column is that run's own. Wall and CPU seconds are both printed: CPU time is the fairer number on a
shared machine.

    python benchmarks/scribble.py                       # everything
    python benchmarks/scribble.py --quality --limit 6   # PSNR table on the first 6 Kodak images
    python benchmarks/scribble.py --speed --sizes 0.25,1 --spsolve-max 1
    python benchmarks/scribble.py --speed --sizes 4,12 --direct-max 1 --spsolve-max 0   # the large sizes
    python benchmarks/scribble.py --targets             # CPU s and peak RSS at 1 and 12 MP against the targets

``--targets`` runs ``scribble()`` (default parameters, a colour-marked copy as the CLI reads it) in a fresh
process per size, under ``/usr/bin/time -v`` where it exists: CPU seconds (``time.process_time``, all threads) of
the first call, which pays for Numba's start, and of the same call repeated; the peak RSS of the whole process
(``ru_maxrss``, the input images included; ``/usr/bin/time``'s maximum resident set size beside it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINCT_SHARED", REPO.parent / "shared"))
KODAK = SHARED / "data" / "eval" / "kodak24"


def strokes(shape, coverage: float, rng, length=(8, 30), width: int = 3) -> np.ndarray:
    """Boolean mask of short straight strokes (``width`` px thick) covering about ``coverage`` of the image."""
    h, w = shape
    mask = np.zeros(shape, bool)
    target = coverage * h * w
    while mask.sum() < target:
        n = max(1, int((target - mask.sum()) / (np.mean(length) * width)))
        y0, x0 = rng.uniform(0, h, n), rng.uniform(0, w, n)
        ang, ln = rng.uniform(0, np.pi, n), rng.uniform(*length, n)
        t = np.linspace(0.0, 1.0, 40)
        ys = y0[:, None] + np.outer(ln * np.sin(ang), t) * 1.0
        xs = x0[:, None] + np.outer(ln * np.cos(ang), t) * 1.0
        for dy in range(-(width // 2), width // 2 + 1):
            for dx in range(-(width // 2), width // 2 + 1):
                yy = np.clip(np.round(ys + dy).astype(int), 0, h - 1)
                xx = np.clip(np.round(xs + dx).astype(int), 0, w - 1)
                mask[yy, xx] = True
    return mask


def gray_of(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]) + 0.5, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def _add_row(rows: list, name: str, row: list) -> None:
    """Keep one image's numbers and show them on stderr while the run goes on (the table comes at the end)."""
    rows.append(row)
    print(f"  {name}: " + " ".join(f"{v:.2f}" for v in row), file=sys.stderr, flush=True)


def _table(title: str, columns: list[str], body: list[list[str]]) -> None:
    """Print a Markdown table under a blank line and its title."""
    print(f"\n{title}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for cells in body:
        print("| " + " | ".join(cells) + " |")


def quality(limit: int | None, space: str) -> None:
    from tinct.color.gray import rgb2lightness
    from tinct.color.lab import lab2rgb
    from tinct.colorize.scribble import scribble
    from tinct.io import read_image

    files = sorted(KODAK.glob("*.jpg"))[:limit]
    covs = (0.005, 0.01, 0.05)
    rows = {c: [] for c in covs}
    base, secs = [], []
    for i, f in enumerate(files):
        truth = read_image(f).pixels
        gray = gray_of(truth)
        lab = np.zeros(truth.shape, np.float32)
        lab[..., 0] = rgb2lightness(gray)
        base.append(psnr(lab2rgb(lab, dtype=np.uint8), truth))
        for c in covs:
            mask = strokes(gray.shape, c, np.random.default_rng(i))
            t = time.perf_counter()
            out = scribble(gray, scribbles=truth, scribble_mask=mask, space=space)
            secs.append(time.perf_counter() - t)
            rows[c].append(psnr(out, truth))
        print(f"  {f.name}: gray {base[-1]:.2f}  " + "  ".join(f"{c:.1%} {rows[c][-1]:.2f}" for c in covs),
              file=sys.stderr, flush=True)
    print(f"\nScribble PSNR (dB, RGB) on {len(files)} Kodak images, space={space}, strokes 8-30 px long, 3 px wide")
    print(f"| {'input':<24} | mean PSNR | min | max |")
    print(f"|{'-' * 26}|-----------|-----|-----|")
    print(f"| {'gray (ab = 0)':<24} | {np.mean(base):9.2f} | {np.min(base):.2f} | {np.max(base):.2f} |")
    for c in covs:
        r = rows[c]
        print(f"| {f'scribbles {c:.1%} coverage':<24} | {np.mean(r):9.2f} | {np.min(r):.2f} | {np.max(r):.2f} |")
    print(f"mean seconds per image (768 x 512): {np.mean(secs):.2f}")


def proxy(limit: int | None, megapixels: float = 1.0, proxies=(0.5, 0.25)) -> None:
    """Exact solve against the proxy solve of ``solver='auto'``: PSNR against the truth and time, at ``megapixels``."""
    import cv2

    from tinct.colorize.scribble import scribble
    from tinct.io import read_image

    names = sorted(p.name for p in KODAK.iterdir() if p.suffix.lower() in (".png", ".jpg"))[:limit]
    rows = []
    for name in names:
        truth = read_image(KODAK / name).pixels
        s = np.sqrt(megapixels * 1e6 / (truth.shape[0] * truth.shape[1]))
        truth = cv2.resize(truth, (round(truth.shape[1] * s), round(truth.shape[0] * s)), interpolation=cv2.INTER_CUBIC)
        gray = gray_of(truth)
        mask = strokes(gray.shape, 0.01, np.random.default_rng(0))
        row = []
        for pm in (1.5,) + tuple(proxies):  # 1.5 = the exact solve for images up to 1.5 MP
            start = time.perf_counter()
            out = scribble(gray, scribbles=truth, scribble_mask=mask, proxy_megapixels=pm)
            row += [psnr(out, truth), time.perf_counter() - start]
        _add_row(rows, name, row)
    mean = np.mean(rows, axis=0)
    first = "exact (direct)" if megapixels <= 1.5 else "proxy 1.5 MP"
    _table(f"Scribble, exact against proxy solve: {len(rows)} Kodak photos scaled to {megapixels} MP, 1 % strokes",
           ["solve", "PSNR dB vs truth", "wall s"],
           [[label, f"{mean[2 * i]:.2f}", f"{mean[2 * i + 1]:.2f}"]
            for i, label in enumerate([first] + [f"proxy {pm} MP" for pm in proxies])])


def prior_hints(limit: int | None, coverage: float = 0.002) -> None:
    """Scribble with the network as prior: its result with and without the strokes given to it as hints.

    Sparse strokes (``coverage``), so that most pixels are far from any and the prior matters; PSNR of the
    prior alone (the network's output) and of the scribble result against the truth, and the prior's mean
    ab error at the stroke pixels.
    """
    sc = importlib.import_module("tinct.colorize.scribble")
    from tinct.color.lab import rgb2lab
    from tinct.io import read_image
    from tinct.registry import get_method

    auto = get_method("auto", "colorize")
    files = sorted(KODAK.glob("*.jpg"))[:limit]
    rows = []
    for i, f in enumerate(files):
        truth = read_image(f).pixels
        gray = gray_of(truth)
        mask = strokes(gray.shape, coverage, np.random.default_rng(i))
        want = rgb2lab(truth[mask].astype(np.float32) / 255.0)[:, 1:]
        row = []
        for count in (0, 256):
            hints = sc.stroke_hints(mask, truth[mask].astype(np.float32) / 255.0, count)
            net = auto(gray, hints=hints) if count else auto(gray)
            out = sc.scribble(gray, scribbles=truth, scribble_mask=mask, prior_image=net)
            err = np.abs(rgb2lab(net[mask].astype(np.float32) / 255.0)[:, 1:] - want).mean()
            row += [psnr(net, truth), psnr(out, truth), err]
        _add_row(rows, f.name, row)
    mean = np.mean(rows, axis=0)
    _table(f"Scribble with prior=auto: {len(rows)} Kodak photos, {coverage:.1%} strokes, prior_weight 0.001",
           ["the network's hints", "prior PSNR dB", "scribble PSNR dB", "prior's ab error at the strokes"],
           [[label, f"{mean[3 * k]:.2f}", f"{mean[3 * k + 1]:.2f}", f"{mean[3 * k + 2]:.1f}"]
            for k, label in enumerate(("none (prior_hints=0)", "256 stroke points (prior_hints=256)"))])


def one(mp: float, solver: str, again: bool = False, marked: bool = False) -> None:
    """Run one timing in this process and print a JSON line (``again``: and time a second, identical call;
    ``marked``: pass a colour-marked copy of the gray image, as the command line does, instead of a mask)."""
    import cv2

    from tinct.io import read_image

    S = importlib.import_module("tinct.colorize.scribble")  # tinct.colorize.scribble, the attribute, is the function

    truth = read_image(KODAK / "kodim05.jpg").pixels
    s = np.sqrt(mp * 1e6 / (truth.shape[0] * truth.shape[1]))
    truth = cv2.resize(truth, (round(truth.shape[1] * s), round(truth.shape[0] * s)), interpolation=cv2.INTER_LINEAR)
    gray = gray_of(truth)
    mask = strokes(gray.shape, 0.01, np.random.default_rng(0))
    inputs = {"scribbles": truth, "scribble_mask": mask}
    if marked:
        copy = np.repeat(gray[..., None], 3, axis=2)
        copy[mask] = truth[mask]
        inputs = {"scribbles": copy}
        del truth, copy
    w0, c0 = time.perf_counter(), time.process_time()
    if solver in ("auto", "direct", "superlu"):
        out = S.scribble(gray, **inputs, solver=solver)
    else:  # the plain baseline: same matrix, SciPy spsolve per channel
        import scipy.sparse.linalg as sla

        luma = gray.astype(np.float32) / 255
        A, coupling = S.build_system(luma, mask)
        known = np.zeros(gray.shape + (2,), np.float32)
        known[mask] = S._chroma(truth[mask].astype(np.float32) / 255, "yiq")
        rhs = coupling(known)
        A = A.tocsc()
        out = np.stack([sla.spsolve(A, rhs[:, c]) for c in (0, 1)], axis=1)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res = {"mp": gray.size / 1e6, "solver": solver, "wall": wall, "cpu": cpu, "rss_mb": rss,
           "shape": list(gray.shape), "ok": bool(np.isfinite(out).all())}
    if again and solver in ("auto", "direct", "superlu"):
        # The same call again in this process: imports, Numba's cached machine code and first-touch memory
        # are paid by the first call only (a long-running process sees this time).
        w0, c0 = time.perf_counter(), time.process_time()
        S.scribble(gray, **inputs, solver=solver)
        res.update(wall_again=time.perf_counter() - w0, cpu_again=time.process_time() - c0)
    print(json.dumps(res))


NAMES = {"auto": "tinct auto (exact to 0.5 MP; above, a 0.5 MP proxy + guided upsampling)",
         "direct": "tinct direct (ND multifrontal LU, 1 factorisation)",
         "superlu": "tinct superlu (ND SuperLU, 1 factorisation)",
         "spsolve": "SciPy spsolve x 2 (baseline)"}


def speed(sizes: list[float], direct_max: float, spsolve_max: float, timeout: int, superlu_max: float = 1.0) -> None:
    rows = []
    for mp in sizes:
        for solver in ("auto", "direct", "superlu", "spsolve"):
            if solver == "spsolve" and spsolve_max <= 0:
                continue
            limit = {"spsolve": spsolve_max, "direct": direct_max, "superlu": superlu_max}.get(solver, float("inf"))
            if mp > limit:
                rows.append((mp, solver, None))
                continue
            cmd = [sys.executable, __file__, "--one", f"{mp}:{solver}"]
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
                line = res.stdout.strip().splitlines()[-1] if res.returncode == 0 and res.stdout.strip() else None
                rows.append((mp, solver, json.loads(line) if line else {"error": res.stderr.strip()[-200:]}))
            except subprocess.TimeoutExpired:
                rows.append((mp, solver, {"error": f"timed out after {timeout} s"}))
            print(f"  {mp} MP {solver}: {rows[-1][2]}", file=sys.stderr, flush=True)
    print("\nScribble solve, kodim05 scaled, 1 % stroke coverage, both chroma channels, fresh process per run")
    print("| MP | solver | wall s | CPU s | peak RSS MB |")
    print("|----|--------|--------|-------|-------------|")
    for mp, solver, r in rows:
        name = NAMES[solver]
        if r is None:
            print(f"| {mp} | {name} | not run (above --{solver}-max) | | |")
        elif "error" in r:
            print(f"| {mp} | {name} | failed: {r['error']} | | |")
        else:
            print(f"| {r['mp']:.2f} | {name} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['rss_mb']:.0f} |")


def targets(sizes=(1.0, 12.0), cpu_target: float = 2.0, rss_target_gb: float = 1.5) -> None:
    """CPU seconds and peak memory of default ``scribble()`` calls at 1 and 12 MP, each in a fresh process."""
    import re
    import shutil

    rows = []
    for mp in sizes:
        cmd = [sys.executable, __file__, "--one", f"{mp}:auto", "--marked"] + (["--again"] if mp <= 4 else [])
        timer = shutil.which("time") and Path("/usr/bin/time").exists()
        res = subprocess.run((["/usr/bin/time", "-v"] if timer else []) + cmd, capture_output=True, text=True)
        if res.returncode != 0:
            rows.append((mp, {"error": res.stderr.strip()[-300:]}, None))
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
        rows.append((mp, r, int(m.group(1)) / 2**20 if m else None))
        print(f"  {mp} MP: {r}", file=sys.stderr, flush=True)
    print("\nscribble(), default parameters (solver='auto'), a colour-marked copy with 1 % strokes, kodim05 scaled; "
          "one fresh process per size")
    print("| MP | CPU s, first call | CPU s, again | wall s, first call | peak RSS GB | /usr/bin/time max RSS GB | "
          f"targets (<= {cpu_target} CPU s at 1 MP, <= {rss_target_gb} GB at 12 MP) |")
    print("|---|---|---|---|---|---|---|")
    for mp, r, tv in rows:
        if "error" in r:
            print(f"| {mp} | failed: {r['error']} | | | | | |")
            continue
        rss = r["rss_mb"] / 1024
        verdict = []
        if mp <= 1.0:
            verdict.append(f"CPU {'met' if r['cpu'] <= cpu_target else 'missed'}")
        if mp >= 12.0:
            verdict.append(f"memory {'met' if rss <= rss_target_gb else 'missed'}")
        again = f"{r['cpu_again']:.2f}" if "cpu_again" in r else "-"
        print(f"| {r['mp']:.2f} | {r['cpu']:.2f} | {again} | {r['wall']:.2f} | {rss:.2f} | "
              f"{'-' if tv is None else f'{tv:.2f}'} | {', '.join(verdict) or '-'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--proxy", action="store_true", help="exact vs proxy solve (PSNR against truth, time)")
    ap.add_argument("--proxy-at", type=float, default=1.0, metavar="MP",
                    help="with --proxy: the size the photos are scaled to (above 1.5 MP the first row is a 1.5 MP proxy)")
    ap.add_argument("--prior", action="store_true",
                    help="scribble with prior=auto, with and without the strokes as the network's hints (PSNR)")
    ap.add_argument("--limit", type=int, default=None, help="Kodak images for --quality (default all 24)")
    ap.add_argument("--space", default="yiq", choices=("yiq", "lab"))
    ap.add_argument("--sizes", default="0.25,1,4,12")
    ap.add_argument("--direct-max", type=float, default=4.0, help="largest MP tinct's direct solver is run at")
    ap.add_argument("--superlu-max", type=float, default=1.0, help="largest MP the SuperLU solver is run at")
    ap.add_argument("--spsolve-max", type=float, default=1.0, help="largest MP the spsolve baseline is run at")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per timing run")
    ap.add_argument("--one", default=None, metavar="MP:SOLVER",
                    help="one timing in this process, e.g. 1:auto (solvers: auto, direct, superlu, spsolve)")
    ap.add_argument("--again", action="store_true", help="with --one: also time a second, identical call")
    ap.add_argument("--marked", action="store_true", help="with --one: a colour-marked copy instead of a mask")
    ap.add_argument("--targets", action="store_true", help="CPU s and peak RSS at 1 and 12 MP against the targets")
    args = ap.parse_args()
    if args.one:
        mp, solver = args.one.split(":")
        one(float(mp), solver, args.again, args.marked)
        return
    if args.targets:
        targets()
        return
    if args.proxy:
        proxy(args.limit, args.proxy_at)
    if args.prior:
        prior_hints(args.limit)
    both = not (args.quality or args.speed or args.proxy or args.prior)
    if args.quality or both:
        quality(args.limit, args.space)
    if args.speed or both:
        speed([float(s) for s in args.sizes.split(",")], args.direct_max, args.spsolve_max, args.timeout,
              args.superlu_max)


if __name__ == "__main__":
    main()
