"""User colour guidance for the CNN colorizers: point hints, region colours and suggested colours.

A *hint* is a point of the input image (``x`` = column, ``y`` = row, in pixels of the image as tinct
reads it, i.e. after EXIF orientation), an sRGB colour and an optional radius in pixels. The network
receives each hint's CIELAB ab at its own input resolution, in the hint channels it was trained with
(SIGGRAPH17 [1]_; tinctnet was trained the same way), and spreads it along the image's structure; the
output keeps the image's own L exactly.

A *region* is a mask of the input's size and a colour: inside it the result takes the colour's hue
and chroma on the image's own lightness, outside it the automatic result, and the edge between them
follows the image's edges (the mask is refined by a guided filter [2]_ steered by L). Regions are not
given to the network as hints: it spreads hints far beyond a mask, and outside a region the result must
stay the automatic one.

*Suggested colours* at a point are the most probable colours of the network's predicted distribution
there, for a colour picker (:func:`suggest_colours`).

Accepted forms (:func:`parse_hints`):

* a list of ``(x, y, colour)`` or ``(x, y, colour, radius)`` tuples, ``colour`` an ``(r, g, b)``
  triple of 0..255 values or a ``"#rrggbb"`` / ``"#rgb"`` string;
* a list of ``{"x": 120, "y": 45, "color": "#1f3a93", "radius": 3}`` objects (``"colour"`` too);
* an (N, 5) or (N, 6) array of ``x, y, r, g, b[, radius]`` (r, g, b in 0..255);
* a path to a JSON file holding such a list.

References
----------
.. [1] R. Zhang, J.-Y. Zhu, P. Isola, X. Geng, A. S. Lin, T. Yu, A. A. Efros, "Real-Time User-Guided
       Image Colorization with Learned Deep Priors", ACM Transactions on Graphics (SIGGRAPH) 36(4), 2017.
.. [2] K. He, J. Sun, X. Tang, "Guided Image Filtering", IEEE TPAMI 35(6), 2013.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from tinct.errors import ParameterError

#: Largest number of hints one call accepts: far more than anyone clicks, small enough to stay fast.
MAX_HINTS = 100_000

_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def parse_colour(value: Any, what: str = "color") -> tuple[float, float, float]:
    """An sRGB colour as three floats in 0..255, from ``"#rrggbb"``, ``"#rgb"`` or an (r, g, b) triple."""
    if isinstance(value, str):
        m = _HEX.match(value.strip())
        if not m:
            raise ParameterError(f"{what}: expected a colour like #1f3a93, got {value!r}")
        h = m.group(1)
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return tuple(float(int(h[i : i + 2], 16)) for i in (0, 2, 4))  # type: ignore[return-value]
    try:
        rgb = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ParameterError(f"{what}: expected a colour like #1f3a93 or (r, g, b), got {value!r}") from None
    if len(rgb) != 3 or not all(math.isfinite(v) and 0.0 <= v <= 255.0 for v in rgb):
        raise ParameterError(f"{what}: expected three values in 0..255, got {value!r}")
    return tuple(rgb)  # type: ignore[return-value]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ParameterError(f"{what}: expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ParameterError(f"{what}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ParameterError(f"{what}: must be a finite number, got {value!r}")
    return v


def _load_json(path: Path, what: str):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParameterError(f"{what}: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{what}: cannot read {path}: {exc}") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ParameterError(f"{what}: {path} is not valid JSON ({exc})") from None


def parse_hints(value: Any, what: str = "hints") -> np.ndarray:
    """Hints in any accepted form (module docstring) as an (N, 6) float64 array ``x, y, r, g, b, radius``.

    An empty list gives an empty (0, 6) array: no hints, the automatic result. Every entry is checked;
    an error names the entry (``hints[3].color: ...``).
    """
    if isinstance(value, (str, Path)):
        value = _load_json(Path(value), what)
    if isinstance(value, np.ndarray):
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] not in (5, 6):
            raise ParameterError(f"{what}: expected an (N, 5) or (N, 6) array x, y, r, g, b[, radius], "
                                 f"got shape {arr.shape}")
        if arr.shape[1] == 5:
            arr = np.concatenate([arr, np.zeros((len(arr), 1))], axis=1)
        rows = list(arr)
    elif isinstance(value, (list, tuple)):
        rows = list(value)
    else:
        raise ParameterError(f"{what}: expected a list of hints, got {type(value).__name__}")
    if len(rows) > MAX_HINTS:
        raise ParameterError(f"{what}: at most {MAX_HINTS:,} hints, got {len(rows):,}")
    out = np.zeros((len(rows), 6), np.float64)
    for i, row in enumerate(rows):
        name = f"{what}[{i}]"
        if isinstance(row, dict):
            unknown = set(row) - {"x", "y", "color", "colour", "radius"}
            if unknown:
                raise ParameterError(f"{name}: unknown field {sorted(unknown)[0]!r} (expected x, y, color, radius)")
            if "x" not in row or "y" not in row or not ({"color", "colour"} & set(row)):
                raise ParameterError(f"{name}: needs x, y and color")
            x, y = row["x"], row["y"]
            colour = row.get("color", row.get("colour"))
            radius = row.get("radius", 0)
        elif isinstance(row, np.ndarray):
            x, y, colour, radius = row[0], row[1], row[2:5], row[5]
        elif isinstance(row, (list, tuple)) and len(row) in (3, 4):
            x, y, colour = row[:3]
            radius = row[3] if len(row) == 4 else 0
        else:
            raise ParameterError(f"{name}: expected (x, y, colour[, radius]) or an object with x, y, color")
        out[i, 0] = _number(x, f"{name}.x")
        out[i, 1] = _number(y, f"{name}.y")
        out[i, 2:5] = parse_colour(colour, f"{name}.color")
        out[i, 5] = _number(radius, f"{name}.radius")
        if out[i, 5] < 0 or out[i, 5] > 10_000:
            raise ParameterError(f"{name}.radius: must be in 0..10000 pixels, got {radius!r}")
    return out


def parse_frame_hints(value: Any, what: str = "hints") -> dict[int, np.ndarray]:
    """Hints for a video: a list of ``{"frame": N, "x", "y", "color"[, "radius"]}`` objects (or a JSON file of
    them; ``frame`` 0-based, default 0), as ``{frame: (n, 6) array}``."""
    if isinstance(value, (str, Path)):
        value = _load_json(Path(value), what)
    if not isinstance(value, (list, tuple)):
        raise ParameterError(f"{what}: expected a list of hints, got {type(value).__name__}")
    if len(value) > MAX_HINTS:
        raise ParameterError(f"{what}: at most {MAX_HINTS:,} hints, got {len(value):,}")
    by_frame: dict[int, list] = {}
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            raise ParameterError(f"{what}[{i}]: expected an object with frame, x, y, color")
        frame = row.get("frame", 0)
        if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
            raise ParameterError(f"{what}[{i}].frame: expected a frame number >= 0, got {frame!r}")
        by_frame.setdefault(frame, []).append((i, {k: v for k, v in row.items() if k != "frame"}))
    out = {}
    for frame, rows in by_frame.items():
        try:
            out[frame] = parse_hints([r for _, r in rows], what=what)
        except ParameterError as exc:  # name the entry by its place in the whole list, not in its frame's
            msg = str(exc)
            for j, (i, _) in enumerate(rows):
                msg = msg.replace(f"{what}[{j}]", f"{what}[{i}]") if msg.startswith(f"{what}[{j}]") else msg
            raise ParameterError(msg) from None
    return out


def parse_hint_option(text: str) -> tuple[float, float, str]:
    """``--hint X,Y,#RRGGBB`` as ``(x, y, colour)``."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (3, 4):
        raise ParameterError(f"--hint: expected X,Y,#RRGGBB[,RADIUS], got {text!r}")
    parse_colour(parts[2], "--hint")
    return (_number(parts[0], "--hint x"), _number(parts[1], "--hint y"), parts[2],
            *([_number(parts[3], "--hint radius")] if len(parts) == 4 else []))  # type: ignore[return-value]


def check_hints(hints: np.ndarray, shape: tuple[int, int], what: str = "hints") -> None:
    """Refuse a hint outside an image of ``shape`` (H, W), naming the entry."""
    h, w = shape
    bad = np.flatnonzero((hints[:, 0] < 0) | (hints[:, 0] > w - 1) | (hints[:, 1] < 0) | (hints[:, 1] > h - 1))
    if bad.size:
        i = int(bad[0])
        raise ParameterError(f"{what}[{i}]: point ({hints[i, 0]:g}, {hints[i, 1]:g}) lies outside the "
                             f"{w}x{h} image")


def hint_ab(hints: np.ndarray) -> np.ndarray:
    """The CIELAB ab (N, 2) float32 of the hints' sRGB colours."""
    from tinct.color import rgb2lab

    rgb = (hints[:, 2:5] / 255.0).astype(np.float32).reshape(-1, 1, 3)
    return rgb2lab(rgb).reshape(-1, 3)[:, 1:].astype(np.float32)


def rasterize(hints: np.ndarray, image_shape: tuple[int, int], net_shape: tuple[int, int]):
    """The network's hint input: ab (2, h, w) and mask (1, h, w) float32 at its input size ``net_shape``.

    Each hint marks the network pixel its point falls in, and every pixel within its radius (scaled to
    the network's resolution). Later hints win where two overlap: the last click is what the user meant.
    """
    h, w = net_shape
    ab = np.zeros((2, h, w), np.float32)
    mask = np.zeros((1, h, w), np.float32)
    if len(hints) == 0:
        return ab, mask
    sy, sx = h / image_shape[0], w / image_shape[1]
    cx = np.clip(((hints[:, 0] + 0.5) * sx).astype(int), 0, w - 1)
    cy = np.clip(((hints[:, 1] + 0.5) * sy).astype(int), 0, h - 1)
    r = np.ceil(hints[:, 5] * max(sx, sy) - 0.5).astype(int).clip(0, max(h, w))
    colours = hint_ab(hints)
    if not r.any():  # the common case, vectorised: one pixel per hint
        ab[:, cy, cx] = colours.T
        mask[0, cy, cx] = 1.0
        return ab, mask
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(len(hints)):
        if r[i] == 0:
            ab[:, cy[i], cx[i]] = colours[i]
            mask[0, cy[i], cx[i]] = 1.0
            continue
        y0, y1, x0, x1 = max(cy[i] - r[i], 0), min(cy[i] + r[i] + 1, h), max(cx[i] - r[i], 0), min(cx[i] + r[i] + 1, w)
        disk = (yy[y0:y1, x0:x1] - cy[i]) ** 2 + (xx[y0:y1, x0:x1] - cx[i]) ** 2 <= r[i] ** 2
        ab[:, y0:y1, x0:x1][:, disk] = colours[i][:, None]
        mask[0, y0:y1, x0:x1][disk] = 1.0
    return ab, mask


#: How far a hint's colour reaches, as a share of the picture's larger side (Gaussian sigma).
HINT_REACH = 0.2


def hint_reach(hints: np.ndarray, image_shape: tuple[int, int], grid_shape: tuple[int, int],
               reach: float = HINT_REACH) -> np.ndarray:
    """Where hints count, float32 (h, w) in [0, 1] on a ``grid_shape`` grid over an image of ``image_shape``.

    The soft union of one Gaussian per hint (sigma ``reach`` times the larger side, at least the hint's
    radius): 1 at a hint, fading with distance. Ten hints spread over a picture cover nearly all of it;
    one hint covers its surroundings only.
    """
    h, w = grid_shape
    sy, sx = h / image_shape[0], w / image_shape[1]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    miss = np.ones((h, w), np.float32)
    sigma_img = np.maximum(reach * max(image_shape), hints[:, 5])
    for (x, y), sig in zip(hints[:, :2], sigma_img):
        d2 = ((xx + 0.5) / sx - (x + 0.5)) ** 2 + ((yy + 0.5) / sy - (y + 0.5)) ** 2
        miss *= 1.0 - np.exp(-d2 / (2.0 * sig * sig)).astype(np.float32)
    return 1.0 - miss


def apply_hints(lightness: np.ndarray, ab: np.ndarray, hints: np.ndarray, sigma_l: float = 10.0) -> np.ndarray:
    """Make each hint hold at its own point: the network spreads hints, this pins them.

    The network's output near a hint is only pulled toward it (it sees hints at its own resolution and
    the result is decoded and upsampled). Here each hint's residual (its ab minus the output's ab at
    its point) is added back around the point with a weight that falls with distance (a window of
    about 3 % of the image side, at least the hint's radius) and with lightness difference (sigma
    ``sigma_l`` L units), so the correction stops at the image's edges. Overlapping hints share the
    correction in proportion to their weights; at a hint's own pixel its weight is 1.
    """
    if len(hints) == 0:
        return ab
    h, w = lightness.shape
    reach = np.maximum(np.maximum(hints[:, 5], 0.03 * min(h, w)), 2.0)
    half = int(np.ceil(reach.max()))
    off = np.arange(-half, half + 1)
    ys = np.clip(hints[:, 1].astype(int), 0, h - 1)
    xs = np.clip(hints[:, 0].astype(int), 0, w - 1)
    want = hint_ab(hints)
    residual = want - ab[ys, xs]
    num = np.zeros((h, w, 2), np.float32)
    den = np.zeros((h, w), np.float32)
    for start in range(0, len(hints), max(1, 2_000_000 // len(off) ** 2)):  # bounded memory for many hints
        sl = slice(start, start + max(1, 2_000_000 // len(off) ** 2))
        yy = ys[sl, None, None] + off[None, :, None]
        xx = xs[sl, None, None] + off[None, None, :]
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        yy, xx = np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)
        d2 = (off[None, :, None] ** 2 + off[None, None, :] ** 2) / (2 * (reach[sl, None, None] / 2) ** 2)
        dl = (lightness[yy, xx] - lightness[ys[sl], xs[sl]][:, None, None]) ** 2 / (2 * sigma_l**2)
        wgt = (np.exp(-d2 - dl) * inside * (d2 <= 2.0)).astype(np.float32)
        np.add.at(den, (yy, xx), wgt)
        np.add.at(num, (yy, xx), wgt[..., None] * residual[sl, None, None, :])
    out = ab.astype(np.float32, copy=True)
    out += num / np.maximum(den, 1.0)[..., None]
    return out


# --------------------------------------------------------------------------- regions
def parse_regions(value: Any, what: str = "regions", max_pixels: int | None = None) -> list[tuple[np.ndarray, tuple]]:
    """Regions as a list of ``(mask, colour)``: ``mask`` a bool (H, W) array, ``colour`` sRGB 0..255.

    Accepts ``[(mask, colour), ...]`` with ``mask`` an array or an image file path, and strings
    ``"MASK=#RRGGBB"`` as the command line's ``--region`` gives them. An empty mask is an error.
    """
    if not isinstance(value, (list, tuple)):
        raise ParameterError(f"{what}: expected a list of (mask, colour) pairs, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        name = f"{what}[{i}]"
        if isinstance(item, str):
            mask_path, sep, colour = item.rpartition("=")
            if not sep or not mask_path:
                raise ParameterError(f"--region: expected MASK=#RRGGBB, got {item!r}")
            item = (mask_path, colour)
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise ParameterError(f"{name}: expected (mask, colour)")
        mask, colour = item
        if isinstance(mask, (str, Path)):
            from tinct.io import read_image

            mask = read_image(mask, max_pixels=max_pixels).pixels
        arr = np.asarray(mask)
        if arr.ndim == 3:
            arr = arr[..., :3].max(axis=2)
        if arr.ndim != 2:
            raise ParameterError(f"{name}: the mask must be a gray or binary image, got shape {arr.shape}")
        binary = arr > (0.5 * np.iinfo(arr.dtype).max if arr.dtype.kind in "ui" and arr.dtype != bool else 0.5)
        if not binary.any():
            raise ParameterError(f"{name}: the mask is empty (no pixel is set)")
        out.append((binary, parse_colour(colour, f"{name}.color")))
    return out


def check_regions(regions, shape: tuple[int, int], what: str = "regions") -> None:
    for i, (mask, _) in enumerate(regions):
        if mask.shape != tuple(shape):
            raise ParameterError(f"{what}[{i}]: mask size {mask.shape[1]}x{mask.shape[0]} does not match the "
                                 f"image's {shape[1]}x{shape[0]}")


def apply_regions(lightness: np.ndarray, ab: np.ndarray, regions, radius: int | None = None) -> np.ndarray:
    """Replace ``ab`` (H, W, 2) inside each region by its colour's ab, with edges that follow L.

    Each mask is softened by a guided filter steered by the lightness, so the boundary snaps to the
    image's own edges instead of the user's brush stroke; the colour keeps its CIELAB a, b (so its hue
    and chroma) on the image's L, which the caller keeps exactly.
    """
    if not regions:
        return ab
    import cv2

    from tinct.color import rgb2lab

    h, w = lightness.shape
    r = radius or max(2, int(round(min(h, w) / 200)))
    guide = (lightness / 100.0).astype(np.float32)
    out = ab.astype(np.float32, copy=True)
    for mask, colour in regions:
        target = rgb2lab(np.asarray(colour, np.float32).reshape(1, 1, 3) / 255.0)[0, 0, 1:]
        alpha = _guided_filter(guide, mask.astype(np.float32), r, 1e-3, cv2)
        alpha = np.clip(alpha, 0.0, 1.0)[..., None]
        out = out * (1.0 - alpha) + alpha * target[None, None, :]
    return out


def _guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float, cv2) -> np.ndarray:
    """He et al.'s gray-guide filter with box means from OpenCV (O(1) per pixel at any radius)."""
    k = (2 * r + 1, 2 * r + 1)

    def mean(a):
        return cv2.boxFilter(a, cv2.CV_32F, k, normalize=True, borderType=cv2.BORDER_REFLECT)

    mi, mp = mean(guide), mean(src)
    var = mean(guide * guide) - mi * mi
    cov = mean(guide * src) - mi * mp
    a = cov / (var + eps)
    b = mp - a * mi
    return mean(a) * guide + mean(b)


# --------------------------------------------------------------------------- suggestions
def suggestions_from_logits(logits: np.ndarray, bins: str, lightness: float, x: float, y: float,
                            image_shape: tuple[int, int], k: int = 8) -> list[dict]:
    """The ``k`` most probable colours at image point (x, y) of a (Q, h, w) logit map, as sRGB swatches."""
    from tinct.color import ab_bins, lab2rgb

    q, h, w = logits.shape
    cx = int(np.clip((x + 0.5) * w / image_shape[1], 0, w - 1))
    cy = int(np.clip((y + 0.5) * h / image_shape[0], 0, h - 1))
    z = logits[:, cy, cx].astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p)[:k]
    centres = ab_bins(bins)[order]
    lab = np.concatenate([np.full((len(order), 1), lightness, np.float32), centres.astype(np.float32)], axis=1)
    rgb = lab2rgb(lab.reshape(-1, 1, 3), gamut="chroma", dtype=np.uint8).reshape(-1, 3)
    return [{"color": "#{:02x}{:02x}{:02x}".format(*map(int, c)), "probability": round(float(p[i]), 4),
             "ab": [round(float(v), 2) for v in ab]} for c, i, ab in zip(rgb, order, centres)]
