"""Training data: image folders and WebDataset-style tar shards, decoded once into memory.

The training images here are small (64-128 px), so every source is decoded
once, centre-cropped to a square and resized to ``load_size``, and kept as one
uint8 tensor ``(M, S, S, 3)`` on the training device. Batches are then made on
the device itself, fully vectorised: random resized crops and horizontal flips
(one affine ``grid_sample`` for the whole batch), the sRGB -> Lab conversion and
SIGGRAPH17-style random hint points. Every random draw of step ``t`` comes from
a generator seeded with ``(seed, t)``, so a run resumed at step ``t`` sees
exactly the batches an uninterrupted run would have seen.

Only NumPy, PyTorch and Pillow (or OpenCV) are needed, so the same code runs on
a bare GPU machine.

References
----------
.. [1] C. Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (random resized crops).
.. [2] R. Zhang et al., "Real-Time User-Guided Image Colorization with Learned Deep Priors",
       SIGGRAPH 2017 (hint sampling).
"""

from __future__ import annotations

import glob
import io
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tinct.errors import ParameterError
from tinct.io.files import IMAGE_SUFFIXES, image_files


def _decode(data: bytes, size: int) -> np.ndarray | None:
    """Bytes -> (size, size, 3) uint8, centre square crop then area/bicubic resize; None if undecodable."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s))
            if s != size:
                im = im.resize((size, size), Image.BICUBIC if s < size else Image.BOX)
            return np.asarray(im, dtype=np.uint8)
    except ImportError:  # pragma: no cover - Pillow is a dependency; OpenCV is the fallback on bare machines
        import cv2

        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if arr is None:
            return None
        h, w = arr.shape[:2]
        s = min(w, h)
        arr = arr[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s, ::-1]
        interp = cv2.INTER_CUBIC if s < size else cv2.INTER_AREA
        return np.ascontiguousarray(cv2.resize(arr, (size, size), interpolation=interp))
    except Exception:
        return None


def _iter_source(source: str, limit: int | None):
    """Yield raw image bytes from a tar shard, a folder (recursive) or a glob pattern, in sorted order."""
    path = Path(source)
    if any(ch in source for ch in "*?["):
        for p in sorted(glob.glob(source)):
            yield from _iter_source(p, limit)
        return
    count = 0
    if path.is_file() and tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            members = sorted((m for m in tf.getmembers() if m.isfile() and m.name.lower().endswith(tuple(IMAGE_SUFFIXES))),
                             key=lambda m: m.name)
            for m in members:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield tf.extractfile(m).read()
    elif path.is_dir():
        files = image_files(path)
        for p in files:
            if limit is not None and count >= limit:
                return
            count += 1
            yield p.read_bytes()
    elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        yield path.read_bytes()
    else:
        raise ParameterError(f"data: {source} is not a tar shard, an image folder or an image file")


def load_images(sources, load_size: int = 128, limit: int | None = None, workers: int | None = None) -> np.ndarray:
    """Decode every image of ``sources`` into one ``(M, load_size, load_size, 3)`` uint8 array.

    Parameters
    ----------
    sources : list of str
        Tar shards (``*.tar`` of JPEG/PNG members), image folders, or glob patterns of them.
    load_size : int
        Side of the stored squares.
    limit : int, optional
        At most this many images from each source (quick experiments, tests).
    workers : int, optional
        Decoding threads (default: CPU count, at most 16).
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [str(sources)]
    if not sources:
        raise ParameterError("data: no training sources given")
    if not (isinstance(load_size, int) and 16 <= load_size <= 1024):
        raise ParameterError(f"load_size: must be an integer in [16, 1024], got {load_size!r}")
    workers = workers or min(16, os.cpu_count() or 1)
    arrays = []
    for src in sources:
        blobs = list(_iter_source(str(src), limit))
        with ThreadPoolExecutor(workers) as pool:
            arrays.extend(a for a in pool.map(lambda b: _decode(b, load_size), blobs, chunksize=64) if a is not None)
    if not arrays:
        raise ParameterError(f"data: no decodable images in {', '.join(map(str, sources))}")
    return np.stack(arrays)


def step_generator(seed: int, step: int, device):
    """The generator of all random draws of one training step (position-addressable randomness)."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed((int(seed) * 1_000_003 + int(step) * 7919 + 17) % (2**63 - 1))
    return g


def epoch_order(n: int, seed: int, epoch: int, device):
    """The permutation of the n training images in ``epoch``."""
    import torch

    g = step_generator(seed + 104_729, epoch, "cpu")
    return torch.randperm(n, generator=g).to(device)


def random_resized_crop(images, size: int, gen, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3), flip: bool = True):
    """Random resized crops (and horizontal flips) of a uint8 batch (B, S, S, 3) -> float (B, 3, size, size)."""
    import torch
    from torch.nn import functional as F

    b = images.shape[0]
    dev = images.device
    x = images.permute(0, 3, 1, 2).float() / 255.0
    u = torch.rand((b, 5), generator=gen, device=dev)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    logr = np.log(ratio[0]) + (np.log(ratio[1]) - np.log(ratio[0])) * u[:, 1]
    r = torch.exp(logr)
    cw = torch.sqrt(area * r).clamp(max=1.0)
    ch = torch.sqrt(area / r).clamp(max=1.0)
    cx = (1.0 - cw) * (2.0 * u[:, 2] - 1.0)
    cy = (1.0 - ch) * (2.0 * u[:, 3] - 1.0)
    sign = torch.where(u[:, 4] < 0.5, -1.0, 1.0) if flip else torch.ones_like(cw)
    theta = torch.zeros((b, 2, 3), device=dev)
    theta[:, 0, 0] = cw * sign
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = ch
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, (b, 3, size, size), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def centre_crop(images, size: int):
    """Deterministic (validation) version: the whole square resized to ``size``; float (B, 3, size, size)."""
    from torch.nn import functional as F

    x = images.permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def click_weights(ab):
    """(B, H*W) weights of where people click: ``exp(-std / 5)`` of ab over a 7 x 7 window, so points land
    inside objects of one colour, not on their edges."""
    import torch
    from torch.nn import functional as F

    b, _, h, w = ab.shape
    mean = F.avg_pool2d(ab, 7, stride=1, padding=3, count_include_pad=False)
    var = (F.avg_pool2d(ab * ab, 7, stride=1, padding=3, count_include_pad=False) - mean * mean).sum(1)
    return torch.exp(-var.clamp_min(0.0).sqrt() / 5.0).reshape(b, h * w) + 1e-6


def sample_hints(ab, gen, p_none: float = 0.5, p_geom: float = 1 / 8, max_points: int = 128, pool: int = 3,
                 style: str = "random", click_pool: int = 5):
    """Colour hints from the true ab: SIGGRAPH17's random points, or points placed as a user clicks.

    Each image gets no hint with probability ``p_none``; otherwise ``1 + Geometric(p_geom)`` points
    (at most ``max_points``). ``style='random'``: uniform random positions, each revealing the mean ab
    of the ``pool x pool`` patch around it (the paper's simulated user). ``style='clicks'``: positions
    drawn in proportion to how uniform the colour is around them (``exp(-std / 5)`` of ab over a 7 x 7
    window), so they land inside objects, as people click, not on edges, each revealing the mean ab of
    the ``click_pool x click_pool`` patch: the object's colour rather than one pixel's. ``'mixed'``:
    each image takes one of the two at random. Returns ``hint_ab`` (B, 2, H, W) and ``hint_mask``
    (B, 1, H, W).
    """
    import torch
    from torch.nn import functional as F

    if style not in ("random", "clicks", "mixed"):
        raise ParameterError(f"hint_style: expected random, clicks or mixed, got {style!r}")
    b, _, h, w = ab.shape
    dev = ab.device
    u = torch.rand((b,), generator=gen, device=dev)
    g = torch.rand((b,), generator=gen, device=dev).clamp_min(1e-7)
    n = 1 + torch.floor(torch.log(g) / np.log(1.0 - p_geom))
    n = torch.where(u < p_none, torch.zeros_like(n), n.clamp(max=max_points))
    pos = torch.randint(0, h * w, (b, max_points), generator=gen, device=dev)
    smooth = F.avg_pool2d(ab, pool, stride=1, padding=pool // 2, count_include_pad=False).reshape(b, 2, h * w)
    if style != "random":
        clicks = torch.multinomial(click_weights(ab), max_points, replacement=True, generator=gen)
        object_colour = F.avg_pool2d(ab, click_pool, stride=1, padding=click_pool // 2,
                                     count_include_pad=False).reshape(b, 2, h * w)
        use = torch.ones((b, 1), dtype=torch.bool, device=dev) if style == "clicks" else (
            torch.rand((b, 1), generator=gen, device=dev) < 0.5)
        pos = torch.where(use, clicks, pos)
        smooth = torch.where(use.unsqueeze(-1), object_colour, smooth)
    active = (torch.arange(max_points, device=dev).view(1, -1) < n.view(-1, 1)).float()
    count = torch.zeros((b, 1, h * w), device=dev)
    count.scatter_add_(2, pos.unsqueeze(1), active.unsqueeze(1))
    idx2 = pos.unsqueeze(1).expand(b, 2, max_points)
    hint = torch.zeros((b, 2, h * w), device=dev)
    hint.scatter_add_(2, idx2, torch.gather(smooth, 2, idx2) * active.unsqueeze(1))
    mask = (count > 0).float()
    hint = hint / count.clamp_min(1.0)
    return hint.view(b, 2, h, w), mask.view(b, 1, h, w)


def recolour_objects(lum, ab, hint_ab, hint_mask, gen, p: float, pool: int = 5):
    """Teach hints to override the prior: give one object per chosen image a new colour and a click on it.

    Hints sampled from the truth only ever confirm colours the image could have, so a network trained on
    them learns to follow a hint only where it agrees with its own guess -- and users click exactly where
    it does not ("the caps were red"). With probability ``p`` an image gets a click at a point of uniform
    colour; the *object* around it (pixels within a random radius of 20-60 % of the crop whose true ab
    lies within 12 and L within 15 of the click's, so it follows the object's edges as its colour does)
    is turned to a new colour: its ab rotated by a random hue angle of 60-300 degrees and shifted by a
    random ab offset of chroma 0-40 (so gray objects get colour too), chroma clipped at 90. The click's
    hint reveals the new colour (the ``pool x pool`` mean); the loss then sees the new colour only where
    the object is, so the network learns to carry a hint over its object and to stop at its edges.

    Returns the new ``ab``, ``hint_ab``, ``hint_mask`` (inputs unchanged where no image was chosen).
    """
    import torch
    from torch.nn import functional as F

    b, _, h, w = ab.shape
    dev = ab.device
    chosen = torch.rand((b,), generator=gen, device=dev) < p
    if p <= 0 or not bool(chosen.any()):
        return ab, hint_ab, hint_mask
    pos = torch.multinomial(click_weights(ab), 1, generator=gen).view(b)
    cy, cx = pos // w, pos % w
    idx = torch.arange(b, device=dev)
    ab_c = ab[idx, :, cy, cx].view(b, 2, 1, 1)
    l_c = lum[idx, :, cy, cx].view(b, 1, 1, 1)
    yy = torch.arange(h, device=dev, dtype=ab.dtype).view(1, h, 1)
    xx = torch.arange(w, device=dev, dtype=ab.dtype).view(1, 1, w)
    radius = (0.2 + 0.4 * torch.rand((b,), generator=gen, device=dev)) * max(h, w)
    near = ((yy - cy.view(b, 1, 1)) ** 2 + (xx - cx.view(b, 1, 1)) ** 2) <= radius.view(b, 1, 1) ** 2
    alike = ((ab - ab_c).norm(dim=1) <= 12.0) & ((lum - l_c).abs()[:, 0] <= 15.0)
    obj = (near & alike & chosen.view(b, 1, 1)).unsqueeze(1)
    angle = np.pi / 3 + (4 * np.pi / 3) * torch.rand((b,), generator=gen, device=dev)
    cos, sin = torch.cos(angle).view(b, 1, 1), torch.sin(angle).view(b, 1, 1)
    rotated = torch.stack([cos * ab[:, 0] - sin * ab[:, 1], sin * ab[:, 0] + cos * ab[:, 1]], dim=1)
    off_angle = 2 * np.pi * torch.rand((b,), generator=gen, device=dev)
    off_chroma = 40.0 * torch.rand((b,), generator=gen, device=dev)
    offset = torch.stack([off_chroma * torch.cos(off_angle), off_chroma * torch.sin(off_angle)], dim=1)
    new = rotated + offset.view(b, 2, 1, 1)
    chroma = new.norm(dim=1, keepdim=True)
    new = new * (90.0 / chroma.clamp_min(90.0))
    ab = torch.where(obj, new, ab)
    colour = F.avg_pool2d(ab, pool, stride=1, padding=pool // 2, count_include_pad=False)[idx, :, cy, cx]
    hint_ab, hint_mask = hint_ab.clone(), hint_mask.clone()
    # The recoloured object's other hints (sampled from its old colour) would contradict the click: drop them.
    stale = obj.expand_as(hint_mask) & (hint_mask > 0)
    hint_mask = torch.where(stale, torch.zeros_like(hint_mask), hint_mask)
    hint_ab = torch.where(stale.expand_as(hint_ab), torch.zeros_like(hint_ab), hint_ab)
    sel = idx[chosen]
    hint_ab[sel, :, cy[sel], cx[sel]] = colour[sel]
    hint_mask[sel, 0, cy[sel], cx[sel]] = 1.0
    return ab, hint_ab, hint_mask
