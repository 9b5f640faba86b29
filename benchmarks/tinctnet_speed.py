"""End-to-end speed of automatic colorization of a 1 MP photo on the CPU: TinctNet against ECCV16.

Rows (one run, same image, same threads): the full ``colorize_cnn`` pipeline (L, resize, network,
annealed mean, guided upsampling, Lab -> RGB) with TinctNet at its own input size (128) and at 256,
and with the ECCV16 architecture at 256 (random weights: only its speed is measured), plus the
network forward passes alone. Median wall time and CPU time of ``--repeat`` runs after one warm-up;
the load average is printed because wall times depend on what else the machine runs.

Usage::

    python benchmarks/tinctnet_speed.py [--weights FILE] [--threads 2] [--repeat 5] [--megapixels 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(fn, repeat):
    """(median wall seconds, median CPU seconds of this process) over ``repeat`` calls after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None) -> int:
    import cv2
    import torch

    from tinct.colorize.cnn import colorize_cnn
    from tinct.io import read_image
    from tinct.models import weights as registry
    from tinct.models.loading import build, save_network
    from tinct.models.tinctnet import load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--megapixels", type=float, default=1.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = args.weights or str(registry.find(registry.default_entry().name))
    photo = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval" / "kodak24"
    src = read_image(sorted(photo.glob("*"))[0]).pixels
    scale = np.sqrt(args.megapixels * 1e6 / (src.shape[0] * src.shape[1]))
    img = cv2.resize(src, (round(src.shape[1] * scale), round(src.shape[0] * scale)), interpolation=cv2.INTER_CUBIC)
    gray = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        eccv = build("eccv16")
        eccv_path = Path(tmp) / "eccv16-random.pt"
        save_network(eccv, eccv_path)
        for name, kw in [("tinctnet (input 128), end to end", dict(arch=None, weights=weights)),
                         ("tinctnet (input 256), end to end", dict(arch=None, weights=weights, input_size=256)),
                         ("eccv16 (input 256), end to end", dict(arch=None, weights=str(eccv_path)))]:
            t = timed(lambda kw=kw: colorize_cnn(gray, threads=args.threads, **kw), args.repeat)
            rows.append((name, t))
        net = load(weights)
        for side in (128, 256):
            x = torch.rand(1, 1, side, side) * 100
            with torch.inference_mode():
                rows.append((f"tinctnet forward {side}x{side}", timed(lambda x=x: net(x), args.repeat)))
        eccv.eval()
        x = torch.rand(1, 1, 256, 256) * 100
        with torch.inference_mode():
            rows.append(("eccv16 forward 256x256", timed(lambda: eccv(x), args.repeat)))
    params = sum(p.numel() for p in net.parameters())
    print(f"image {img.shape[1]}x{img.shape[0]} ({img.shape[0] * img.shape[1] / 1e6:.2f} MP), "
          f"threads {args.threads}, load average {os.getloadavg()[0]:.1f}, tinctnet {params / 1e6:.2f} M params, "
          f"eccv16 {sum(p.numel() for p in eccv.parameters()) / 1e6:.1f} M params")
    print("CPU s = processor time of this process (all threads); on a machine shared with other jobs the wall")
    print("time grows with the load, CPU s / threads is what the same call takes on an idle machine (roughly).")
    print("| what | median wall s | median CPU s |\n|---|---|---|")
    for name, (t, c) in rows:
        print(f"| {name} | {t:.3f} | {c:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
