"""Exemplar colorization and superpixel transfer (seed 003): quality against truth, and speed.

Split-image protocol (colorization with a known answer): every colour photo of
an evaluation set is cut along its long side into two overlapping crops, each
60 % of the side (so they share 20 %): the first is the colour reference, the
second's gray (Rec. 601) is colorized and compared with its own colours (PSNR
of the RGB result, AuC of the ab error curve, plain and class-rebalanced,
pooled over all pixels of the set; :mod:`tinct.metrics.colorization`). Every
method gets the same gray target and the same reference; peers in the same
run:

* ``exemplar`` with each feature backend and a sweep of its main parameters;
* ``reinhard`` and ``gmm`` colour transfer of the reference onto the gray
  target (a gray target has no ab spread, so both amount to the reference's
  global colour statistics), with the target's L kept;
* ``auto`` automatic colorization when its weights are installed (it ignores
  the reference);
* ``gray``: no colour at all (the floor).

Transfer: :func:`tinct.metrics.transfer_scores` on ``eval/transfer-pairs``.
Speed: a 1 MP target with a 1 MP reference, and SLIC alone (fast-slic vs scikit-image).

Usage::

    python benchmarks/exemplar.py quality --limit 24          # kodak24 + bsds500-test100 (first N of each)
    python benchmarks/exemplar.py sweep --limit 12            # parameters of the default backend
    python benchmarks/exemplar.py transfer
    python benchmarks/exemplar.py speed
    # network backends need files: --vgg PATH (torchvision vgg19_bn .pth), --tinctnet PATH (tinctnet weights)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINCT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))


def split_pairs(folder: Path, limit: int | None):
    """Yield (name, reference uint8 RGB, target uint8 RGB) crops of every image in ``folder``."""
    from tinct.io import read_image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for path in files[:limit]:
        img = read_image(path).pixels
        if img.ndim == 2:
            continue
        h, w = img.shape[:2]
        if w >= h:
            c = int(round(0.6 * w))
            yield path.stem, img[:, :c], img[:, w - c:]
        else:
            c = int(round(0.6 * h))
            yield path.stem, img[:c], img[h - c:]


class Pool:
    """Pooled colorization metrics of one method over a set."""

    def __init__(self):
        from tinct.metrics import colorization as metrics

        self.m = metrics
        self.counts = np.zeros(metrics.MAX_THRESHOLD + 2)
        self.counts_rb = np.zeros(metrics.MAX_THRESHOLD + 2)
        self.psnr: list[float] = []
        self.seconds = 0.0

    def add(self, pred_u8, truth_u8, seconds):
        from tinct.color import rgb2lab

        p = pred_u8.astype(np.float32) / 255
        t = truth_u8.astype(np.float32) / 255
        self.psnr.append(self.m.psnr(p, t))
        pab, tab = rgb2lab(p)[..., 1:].reshape(-1, 2), rgb2lab(t)[..., 1:].reshape(-1, 2)
        self.counts += self.m.ab_error_counts(pab, tab)
        self.counts_rb += self.m.ab_error_counts(pab, tab, self.m.rebalance_weights(tab))
        self.seconds += seconds

    def row(self):
        return (float(np.mean(self.psnr)), self.m.auc_from_counts(self.counts), self.m.auc_from_counts(self.counts_rb),
                self.seconds / max(1, len(self.psnr)))


def colorizers(args):
    """name -> f(gray_u8, reference_u8) -> RGB uint8, for every method measured."""
    from tinct.registry import get_method

    ex = get_method("exemplar")
    out = {}
    out["exemplar handcrafted"] = lambda g, r: ex(g, reference=r, backend="handcrafted")
    if args.vgg:
        out["exemplar vgg19bn"] = lambda g, r: ex(g, reference=r, backend="vgg19bn", weights=args.vgg)
    if args.vgg_random:
        out["exemplar vgg19bn (random init)"] = lambda g, r: ex(g, reference=r, backend="vgg19bn",
                                                                weights=args.vgg_random)
    if args.tinctnet:
        out["exemplar tinctnet"] = lambda g, r: ex(g, reference=r, backend="tinctnet", weights=args.tinctnet)
    for name in ("reinhard", "gmm"):
        try:
            m = get_method(name, "transfer")
        except Exception as exc:  # not registered in this checkout
            print(f"# {name}: not available ({exc})")
            continue
        kw = {"keep_lightness": True} if any(p.name == "keep_lightness" for p in m.params) else {}
        out[name] = _transfer_on_gray(m, kw)
    try:
        from tinct.models.weights import default_entry, find

        entry = default_entry()
        if entry is not None:
            find(entry.name)
            auto = get_method("auto", "colorize")
            out["auto (ignores the reference)"] = lambda g, r: auto(g)
        else:
            print("# auto: no default weights registered in this checkout; not measured")
    except Exception as exc:
        print(f"# auto: not available ({exc})")
    out["gray (no colour)"] = lambda g, r: np.repeat(g[..., None], 3, 2)
    return out


def _transfer_on_gray(method, kw):
    def run(g, r):
        return _keep_l(method(np.repeat(g[..., None], 3, 2), r, **kw), g)

    return run


def _with(f, *args, **kw):
    def run(*more):
        return f(*more, *args, **kw)

    return run


def _keep_l(rgb_u8, gray_u8):
    """Put the gray target's own L back (reinhard/gmm without keep_lightness would move it)."""
    from tinct.color import lab2rgb, rgb2lab, rgb2lightness

    lab = rgb2lab(rgb_u8.astype(np.float32) / 255)
    lab[..., 0] = rgb2lightness(np.repeat(gray_u8[..., None], 3, 2).astype(np.float32) / 255)
    return lab2rgb(lab, gamut="chroma", dtype=np.uint8)


def run_quality(methods: dict, sets, limit):
    from tinct.color import rgb2gray

    print("| set | method | PSNR dB | AuC % | AuC rebal % | s / image |")
    print("|---|---|---|---|---|---|")
    for set_name in sets:
        pools = {k: Pool() for k in methods}
        n = 0
        for _, ref, tgt in split_pairs(SHARED / "data" / "eval" / set_name, limit):
            gray = (rgb2gray(tgt.astype(np.float32) / 255) * 255 + 0.5).astype(np.uint8)
            for k, f in methods.items():
                t0 = time.perf_counter()
                pred = f(gray, ref)
                pools[k].add(pred, tgt, time.perf_counter() - t0)
            n += 1
        for k, p in pools.items():
            ps, auc, aucr, sec = p.row()
            print(f"| {set_name} ({n}) | {k} | {ps:.2f} | {auc:.2f} | {aucr:.2f} | {sec:.2f} |", flush=True)


def cmd_quality(args):
    run_quality(colorizers(args), args.sets, args.limit)


def cmd_sweep(args):
    from tinct.registry import get_method

    ex = get_method("exemplar")
    base = {"backend": args.backend}
    if args.backend == "vgg19bn":
        base["weights"] = args.vgg or args.vgg_random
    if args.backend == "tinctnet":
        base["weights"] = args.tinctnet
    grid = [("default", {})]
    grid += [(f"tau={v}", {"tau": v}) for v in (0.005, 0.05, 0.15)]
    grid += [(f"delta_s={v}", {"delta_s": v}) for v in (1.0, 100.0)]
    grid += [(f"delta_c={v}", {"delta_c": v}) for v in (1.0, 10.0)]
    grid += [(f"segments={v}", {"segments": v}) for v in (300, 1500)]  # default ~ 3 sqrt(hw) ~ 600-700 at 256
    grid += [(f"size={v}", {"size": v}) for v in (160, 384)]
    grid += [(f"neighbors={v}", {"neighbors": v}) for v in (1, 4, 16)]
    methods = {f"{args.backend} {label}": _exemplar_with(ex, {**base, **kw}) for label, kw in grid}
    run_quality(methods, args.sets, args.limit)


def _exemplar_with(ex, kw):
    def run(g, r):
        return ex(g, reference=r, **kw)

    return run


def cmd_transfer(args):
    import csv

    from tinct.io import read_image
    from tinct.metrics import transfer_scores
    from tinct.registry import get_method

    folder = SHARED / "data" / "eval" / "transfer-pairs"
    rows = list(csv.DictReader(open(folder / "pairs.csv")))
    sp = get_method("superpixel")
    methods = {"superpixel handcrafted": lambda t, r: sp(t, r, backend="handcrafted")}
    if args.vgg:
        methods["superpixel vgg19bn"] = lambda t, r: sp(t, r, backend="vgg19bn", weights=args.vgg)
    if args.vgg_random:
        methods["superpixel vgg19bn (random init)"] = lambda t, r: sp(t, r, backend="vgg19bn", weights=args.vgg_random)
    if args.tinctnet:
        methods["superpixel tinctnet"] = lambda t, r: sp(t, r, backend="tinctnet", weights=args.tinctnet)
    for name in ("reinhard", "gmm", "mkl", "sliced"):
        try:
            methods[name] = get_method(name, "transfer")
        except Exception:
            print(f"# {name}: not registered in this checkout")
    sums = {k: {"swd": [], "ssim_l": [], "edge": [], "s": []} for k in methods}
    for row in rows:
        t = read_image(folder / row["target"]).pixels
        r = read_image(folder / row["reference"]).pixels
        for k, f in methods.items():
            t0 = time.perf_counter()
            out = f(t, r)
            sec = time.perf_counter() - t0
            s = transfer_scores(out, t, r)
            for key in ("swd", "ssim_l", "edge"):
                sums[k][key].append(s[key])
            sums[k]["s"].append(sec)
    print(f"transfer-pairs ({len(rows)} pairs), means; swd: sliced Wasserstein to the reference's Lab colours "
          "(lower = palette closer), ssim_l: SSIM of L with the target, edge: edge preservation (higher = better)")
    print("| method | swd | ssim_l | edge | s / pair |")
    print("|---|---|---|---|---|")
    for k, v in sums.items():
        print(f"| {k} | {np.mean(v['swd']):.2f} | {np.mean(v['ssim_l']):.3f} | {np.mean(v['edge']):.3f} | "
              f"{np.mean(v['s']):.2f} |")


def cmd_speed(args):
    import cv2

    from tinct.exemplar import matching as sp
    from tinct.io import read_image
    from tinct.registry import get_method

    kodak = SHARED / "data" / "eval" / "kodak24"
    a = read_image(kodak / "kodim05.jpg").pixels
    b = read_image(kodak / "kodim23.jpg").pixels
    side = (1224, 816)  # 0.999 MP
    t = cv2.resize(a, side, interpolation=cv2.INTER_CUBIC)
    r = cv2.resize(b, side, interpolation=cv2.INTER_CUBIC)
    g = cv2.cvtColor(t, cv2.COLOR_RGB2GRAY)
    tr, ex = get_method("superpixel"), get_method("exemplar")
    from tinct.exemplar.features import resolve_auto

    auto = resolve_auto()
    rows = [("superpixel default (auto = handcrafted for transfer)", lambda: tr(t, r)),
            (f"exemplar default (auto = {auto})", lambda: ex(g, reference=r)),
            ("superpixel handcrafted", lambda: tr(t, r, backend="handcrafted")),
            ("exemplar handcrafted", lambda: ex(g, reference=r, backend="handcrafted"))]
    for name in ("reinhard", "gmm"):
        try:
            m = get_method(name, "transfer")
            rows.append((name, _with(m, t, r)))
        except Exception:
            pass
    if args.vgg or args.vgg_random:
        w = args.vgg or args.vgg_random
        rows += [("superpixel vgg19bn", lambda: tr(t, r, backend="vgg19bn", weights=w)),
                 ("exemplar vgg19bn", lambda: ex(g, reference=r, backend="vgg19bn", weights=w))]
    if args.tinctnet:
        rows += [("exemplar tinctnet", lambda: ex(g, reference=r, backend="tinctnet", weights=args.tinctnet))]
    print(f"1 MP target ({side[0]}x{side[1]}) + 1 MP reference, median of {args.repeat} runs after one warm-up, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print("| method | median s | min s |")
    print("|---|---|---|")
    for name, f in rows:
        f()
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        print(f"| {name} | {np.median(times):.2f} | {min(times):.2f} |", flush=True)

    print("\nSLIC alone, 3 * floor(sqrt(h w)) superpixels")
    print("| size | fast-slic (AVX2) s | scikit-image slic s |")
    print("|---|---|---|")
    from skimage.segmentation import slic

    try:
        from fast_slic.avx2 import SlicAvx2
    except ImportError:
        SlicAvx2 = None
    for w, h in ((256, 171), (1224, 816), (4243, 2828)):
        img = cv2.resize(a, (w, h), interpolation=cv2.INTER_CUBIC)
        n = sp.default_segments(h, w)
        f_s = "not installed"
        if SlicAvx2 is not None:
            t0 = time.perf_counter()
            SlicAvx2(num_components=n, compactness=10, num_threads=1).iterate(np.ascontiguousarray(img))
            f_s = f"{time.perf_counter() - t0:.2f}"
        t0 = time.perf_counter()
        slic(img, n_segments=n, compactness=10, start_label=0)
        print(f"| {w}x{h} | {f_s} | {time.perf_counter() - t0:.2f} |", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("quality", "sweep", "transfer", "speed"))
    p.add_argument("--limit", type=int, default=None, help="first N images of each set")
    p.add_argument("--sets", nargs="+", default=["kodak24", "bsds500-test100"])
    p.add_argument("--backend", default="handcrafted", help="backend swept by `sweep`")
    p.add_argument("--vgg", default=None, help="torchvision vgg19_bn weights file")
    p.add_argument("--vgg-random", default=None, help="a randomly initialised vgg19_bn state dict (see --make-random)")
    p.add_argument("--tinctnet", default=None, help="tinctnet weights file")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--make-random", default=None, metavar="PATH",
                   help="write a seeded random-init vgg19_bn state dict to PATH first (there are no VGG weights offline)")
    args = p.parse_args(argv)
    if args.make_random:
        import torch

        from tinct.exemplar.features import _vgg_module

        torch.manual_seed(0)
        torch.save(_vgg_module().state_dict(), args.make_random)
        args.vgg_random = args.vgg_random or args.make_random
    {"quality": cmd_quality, "sweep": cmd_sweep, "transfer": cmd_transfer, "speed": cmd_speed}[args.command](args)


if __name__ == "__main__":
    main()
