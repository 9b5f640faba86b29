"""Time tinct's registered transfer methods against what users would pick instead.

For each size (megapixels) it times every tinct transfer method and the peers
side by side in one run, on a real photograph resized to that size, and prints
one table: median wall time over repeats, and peak memory of one call (Python
heap as traced by tracemalloc, which sees NumPy's allocations). A "floor" row
times a single read-modify-write pass over the same image (to float32, one
multiply-add, back to uint8): no method that computes every pixel anew in
floating point can beat it.

Peers (``pip install -e ".[bench]"`` and ``pip install --no-deps python-color-transfer``):
color-matcher (``reinhard``, ``mkl``, ``hm``) and python-color-transfer
(``lab`` and ``mean_std``). Missing peers are reported as such, not skipped silently.

Usage::

    python benchmarks/speed.py                      # 0.25, 1, 4, 12 MP
    python benchmarks/speed.py --sizes 0.25 1 --repeat 5 --methods reinhard
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINCT_SHARED", REPO.parent / "shared"))


def load_pair(megapixels: float) -> tuple[np.ndarray, np.ndarray]:
    """A target and a reference photograph, both resized to ``megapixels`` (uint8 RGB)."""
    import cv2

    from tinct.io import read_image

    pairs = SHARED / "data" / "eval" / "transfer-pairs"
    if (pairs / "jrosebr1").is_dir():
        target = read_image(pairs / "jrosebr1" / "ocean_day.jpg").pixels
        reference = read_image(pairs / "jrosebr1" / "ocean_sunset.jpg").pixels
    else:  # fall back on the bundled examples
        from tinct.data import TRANSFER_PAIR, example

        target, reference = (read_image(example(n)).pixels for n in TRANSFER_PAIR)

    def resize(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        scale = (megapixels * 1e6 / (h * w)) ** 0.5
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return cv2.resize(img, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)

    return resize(target), resize(reference)


def floor(target: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """One read-modify-write pass: every pixel to float32, one multiply-add, rounded back to uint8.

    This is the least any method that computes a new value for every pixel in
    floating point does; no colour transfer can be faster than this pass.
    """
    out = target.astype(np.float32)
    out *= np.float32(0.9)
    out += np.float32(10.5)
    return out.astype(np.uint8)


def tinct_methods(names: list[str] | None) -> dict[str, Callable]:
    from tinct.registry import list_methods

    return {f"tinct {m.name}": m for m in list_methods("transfer") if names is None or m.name in names}


# Timed here: each peer's mean/deviation, linear and histogram transfers.
TIMED_PEERS = ("color-matcher reinhard", "color-matcher mkl", "color-matcher hm",
               "python-color-transfer lab", "python-color-transfer mean_std")


def peer_methods() -> tuple[dict[str, Callable], list[str]]:
    """Installed peers that this benchmark times, and a note for each one that is not installed."""
    from peers import transfer_peers

    found, missing = transfer_peers()
    return {k: v for k, v in found.items() if k in TIMED_PEERS}, missing


def measure(func: Callable, target: np.ndarray, reference: np.ndarray, repeat: int) -> tuple[float, float]:
    """Median seconds over ``repeat`` calls, and peak traced MB of one extra call."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        func(target, reference)
        times.append(time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    func(target, reference)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / 2**20


def run(sizes: list[float], repeat: int, methods: list[str] | None, peers: bool = True) -> list[dict]:
    rows = []
    candidates = {"floor (read-modify-write)": floor, **tinct_methods(methods)}
    notes: list[str] = []
    if peers:
        found, notes = peer_methods()
        candidates.update(found)
    for mp in sizes:
        target, reference = load_pair(mp)
        for name, func in candidates.items():
            try:
                seconds, peak = measure(func, target, reference, repeat)
                rows.append({"size_mp": mp, "method": name, "seconds": seconds, "peak_mb": peak})
            except Exception as exc:  # a peer failing is a result to report, not a crash
                rows.append({"size_mp": mp, "method": name, "seconds": float("nan"), "peak_mb": float("nan"),
                             "error": f"{type(exc).__name__}: {exc}"})
    for note in notes:
        print(f"not installed: {note}", file=sys.stderr)
    return rows


def format_table(rows: list[dict]) -> str:
    width = max(len(r["method"]) for r in rows)
    lines = [f"{'MP':>6}  {'method':<{width}}  {'median s':>9}  {'peak MB':>8}  {'x floor':>7}"]
    floors = {r["size_mp"]: r["seconds"] for r in rows if r["method"].startswith("floor")}
    for r in rows:
        ratio = r["seconds"] / floors[r["size_mp"]] if floors.get(r["size_mp"]) else float("nan")
        err = f"  {r['error']}" if "error" in r else ""
        lines.append(f"{r['size_mp']:>6.2f}  {r['method']:<{width}}  {r['seconds']:>9.3f}  {r['peak_mb']:>8.0f}  "
                     f"{ratio:>7.1f}{err}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.25, 1, 4, 12], help="megapixels")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=None, help="tinct methods to time (default: all transfer)")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args(argv)
    print(format_table(run(args.sizes, args.repeat, args.methods, not args.no_peers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
