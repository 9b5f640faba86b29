"""Fixed cost of a `tinct` command: what a user waits for besides the work itself.

Each command runs as a fresh process on a small image (0.25 MP by default), several times; the table
prints the median wall and CPU seconds of the whole process, the CPU seconds of the file's own work
(the `--json` record's `cpu_s`: read, run, write) and the difference: imports, model loading and
start-up. CPU seconds, so that a busy machine does not inflate them. The Python interpreter alone
(`python -c pass`) is measured in the same run as the floor.

    python benchmarks/startup.py [--repeat 5] [--megapixels 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(argv: list[str]) -> tuple[float, float, dict | None]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        record = json.loads(proc.stdout)
    except json.JSONDecodeError:
        record = None
    return wall, cpu, record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--megapixels", type=float, default=0.25)
    args = ap.parse_args()

    import numpy as np

    from tinct.data import TRANSFER_PAIR, example
    from tinct.io import write_image

    tmp = Path(tempfile.mkdtemp(prefix="tinct-startup-"))
    side = int((args.megapixels * 1e6) ** 0.5)
    rng = np.random.default_rng(0)
    gray = tmp / "gray.png"
    write_image(gray, (rng.random((side, side)) * 255).astype(np.uint8))
    ref = str(example(TRANSFER_PAIR[1]))
    tinct = [sys.executable, "-m", "tinct"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "tinct --help": [*tinct, "--help"],
        "tinct methods": [*tinct, "methods"],
        "tinct transfer (reinhard)": [*tinct, "transfer", str(gray), "-r", ref, "-o", str(tmp / "t.png"),
                                      "--overwrite", "--json"],
        "tinct colorize -m patchdb": [*tinct, "colorize", str(gray), "-m", "patchdb", "-o", str(tmp / "p.png"),
                                      "--overwrite", "--json"],
        "tinct colorize (auto)": [*tinct, "colorize", str(gray), "-o", str(tmp / "c.png"), "--overwrite", "--json"],
    }
    print(f"{args.repeat} runs each on a {side}x{side} image ({side * side / 1e6:.2f} MP); median seconds; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| command | wall | CPU | CPU of the file's work | fixed CPU (CPU - work) |\n|---|---|---|---|---|")
    for name, argv in commands.items():
        run(argv)  # warm the file cache and numba's on-disk cache
        walls, cpus, works = [], [], []
        for _ in range(args.repeat):
            wall, cpu, record = run(argv)
            walls.append(wall)
            cpus.append(cpu)
            works.append(record["written"][0]["timings"]["cpu_s"] if record else 0.0)
        w, c, m = statistics.median(walls), statistics.median(cpus), statistics.median(works)
        print(f"| {name} | {w:.2f} | {c:.2f} | {m:.2f} | {c - m:.2f} |")


if __name__ == "__main__":
    main()
