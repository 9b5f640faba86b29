"""PSNR of TinctNet against the number of colour hints (as SIGGRAPH17 Fig. 4 reports it).

For every colour image of the evaluation folders, ``k`` hint points are drawn at random positions
(fixed seed) and reveal the true ab there (mean of the 3 x 3 patch at the network's input
resolution); the network colorizes with them; ab is upsampled with the guided filter and joined
with the image's own L; PSNR of RGB against the original. ``k = 0`` is automatic mode.

Usage::

    python benchmarks/tinctnet_hints.py [--weights FILE] [--hints 0 1 10 100] [DIR ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tinct.models.weights import DEFAULT_TEMPERATURE

DEFAULT_DIRS = ["kodak24", "bsds500-test100"]


def colorize_with_hints(net, rgb, k, rng, temperature=DEFAULT_TEMPERATURE):
    import cv2
    import torch

    from tinct.color import annealed_mean, lab2rgb, rgb2lab
    from tinct.colorize.cnn import net_input_shape
    from tinct.colorize.upsample import resize, upsample_ab

    lab = rgb2lab(rgb)
    h, w = net_input_shape(*lab.shape[:2], net.input_size, 8)
    l_in = resize(lab[..., 0], (h, w))
    ab_in = cv2.resize(lab[..., 1:], (w, h), interpolation=cv2.INTER_AREA)
    ab_in = cv2.blur(ab_in, (3, 3))
    hint = np.zeros((2, h, w), np.float32)
    mask = np.zeros((1, h, w), np.float32)
    if k:
        pos = rng.choice(h * w, size=k, replace=False)
        ys, xs = np.unravel_index(pos, (h, w))
        hint[:, ys, xs] = ab_in[ys, xs].T
        mask[0, ys, xs] = 1.0
    with torch.no_grad():
        logits = net(torch.from_numpy(l_in)[None, None], torch.from_numpy(hint)[None], torch.from_numpy(mask)[None])
    ab_low = annealed_mean(logits[0].numpy(), net.bins, temperature, axis=0)
    ab = upsample_ab(ab_low, lab[..., 0], "guided")
    return lab2rgb(np.concatenate([lab[..., :1], ab], axis=-1))


def main(argv=None) -> int:
    import torch

    from tinct.evaluate.metrics import psnr
    from tinct.evaluate.run import list_images
    from tinct.io import read_image
    from tinct.models import weights as registry
    from tinct.models.tinctnet import load
    from tinct.pixels import to_float_rgb

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--weights", default=None, help="TinctNet weights (default: the registry's default entry)")
    ap.add_argument("--hints", type=int, nargs="+", default=[0, 1, 10, 100])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = args.weights or registry.find(registry.default_entry().name)
    net = load(weights)
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval"
    dirs = args.dirs or [str(shared / d) for d in DEFAULT_DIRS]
    print(f"weights: {weights}")
    print("| set | images | " + " | ".join(f"PSNR dB, {k} hints" for k in args.hints) + " |")
    print("|---|---|" + "---|" * len(args.hints))
    for d in dirs:
        files = list_images(d)[: args.limit]
        scores = {k: [] for k in args.hints}
        for i, f in enumerate(files):
            rgb = to_float_rgb(read_image(f).pixels)
            for k in args.hints:
                rng = np.random.default_rng(1000 * i + k)
                scores[k].append(psnr(colorize_with_hints(net, rgb, k, rng), rgb))
        print(f"| {Path(d).name} | {len(files)} | " + " | ".join(f"{np.mean(scores[k]):.2f}" for k in args.hints) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
