"""Time per image of CNN colorization (ECCV16, random weights) at 0.25, 1 and 12 MP, per backend and upsampler.

The network always sees about 256^2 pixels, so its cost is nearly constant; what grows with the image is
reading L, upsampling ab to full size and the Lab -> sRGB conversion. Wall time and process CPU time
(all threads) are reported side by side for the PyTorch and onnxruntime backends and for the joint
bilateral (default), guided-filter and bilinear upsamplers, measured in the same run. Weights are
random (made here): speed does not depend on their values.

    python benchmarks/cnn_speed.py [--sizes 0.25,1,12] [--repeat 3] [--threads 0]

Wall times are only meaningful on an otherwise idle machine; the script prints the load average.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="0.25,1,12", help="megapixels, comma separated")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="inference threads (0 = library default)")
    args = ap.parse_args(argv)

    import torch

    from tinct.colorize.cnn import colorize_cnn
    from tinct.models.loading import build, save_network

    tmp = Path(tempfile.mkdtemp(prefix="tinct-bench-"))
    os.environ.setdefault("TINCT_CACHE", str(tmp / "cache"))
    torch.manual_seed(0)
    weights = tmp / "eccv16-random.pt"
    save_network(build("eccv16"), weights)
    rng = np.random.default_rng(0)
    configs = [("torch", "bilateral"), ("onnx", "bilateral"), ("torch", "guided"), ("torch", "bilinear")]
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads by default; "
          f"threads param = {args.threads}; repeat = {args.repeat}")
    print("| MP | size | backend | upsample | wall s/image | CPU s/image |")
    print("|---|---|---|---|---|---|")
    for mp in (float(s) for s in args.sizes.split(",")):
        h = int(round(np.sqrt(mp * 1e6 * 3 / 4)))
        w = int(round(h * 4 / 3))
        img = (rng.random((h, w)) * 255).astype(np.uint8)
        for backend, up in configs:
            kw = dict(weights=str(weights), backend=backend, upsample=up, threads=args.threads)
            colorize_cnn(img[:64, :64], **kw)  # load / export once, outside the timing
            walls, cpus = [], []
            for _ in range(args.repeat if mp < 5 else max(1, args.repeat - 1)):
                t0, c0 = time.perf_counter(), time.process_time()
                colorize_cnn(img, **kw)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            print(f"| {mp:g} | {w}x{h} | {backend} | {up} | {np.median(walls):.3f} | {np.median(cpus):.3f} |",
                  flush=True)
    # The network alone at its input size, both engines, one and two threads: decides the CPU default backend.
    from tinct.models.loading import get_runner

    l_in = np.full((1, 1, 256, 256), 50.0, np.float32)
    print("\n| network only (256x256 in) | threads | wall s | CPU s |")
    print("|---|---|---|---|")
    for threads in (1, 2):
        for backend in ("torch", "onnx"):
            run = get_runner(weights, "eccv16", backend=backend, threads=threads).run
            run(l_in)
            walls, cpus = [], []
            for _ in range(max(3, args.repeat)):
                t0, c0 = time.perf_counter(), time.process_time()
                run(l_in)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            print(f"| {backend} | {threads} | {np.median(walls):.3f} | {np.median(cpus):.3f} |", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
