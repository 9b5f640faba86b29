"""3-D lookup tables: fit one from a colour transfer, write and read ``.cube`` files, apply them.

A *pointwise* colour transfer -- one whose output colour depends only on the input
colour, not on where the pixel is -- is a function from the RGB cube to itself. Once
its statistics are fitted on a target and a reference (``reinhard``, ``mkl``, ``gmm``,
``sliced``), evaluating it on an identity lattice of ``size**3`` RGB nodes gives a
3-D LUT that every colour grading tool applies natively and in real time (DaVinci
Resolve, Premiere, OBS, ffmpeg ``lut3d``), and that tinct applies to images and
video frames (:func:`apply_lut`).

* :func:`fit_lut` fits a method's statistics and bakes its map into a :class:`Lut`;
  :func:`export_lut` also writes it as ``.cube``.
* :func:`write_cube` / :func:`read_cube`: the Adobe / Resolve ``.cube`` format [1]_
  (``TITLE``, ``LUT_3D_SIZE N``, optional ``DOMAIN_MIN`` / ``DOMAIN_MAX``, then ``N**3``
  rows ``R G B`` with red varying fastest, values in [0, 1]).
* :func:`apply_lut`: trilinear interpolation in one compiled pass, for uint8, uint16
  and float images (results rounded to the input's bit depth).

Masked transfers are not LUT-able: a LUT treats every pixel of one colour alike, so
it cannot leave the pixels outside a mask untouched. Nor are spatial steps: ``sliced``
``regrain`` (a guided filter) is left out of the LUT, and a ``feather`` is refused.

References
----------
.. [1] Adobe Systems, "Cube LUT Specification", version 1.0, 2013.
.. [2] H. R. Kang, "Color Technology for Electronic Imaging Devices", SPIE Press 1997,
       ch. 4 (3-D lookup tables and their interpolation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinct.errors import ImageReadError, ImageWriteError, ParameterError

LUTABLE = ("reinhard", "mkl", "gmm", "sliced")
DEFAULT_SIZE = 33
MAX_SIZE = 256


class CubeError(ImageReadError):
    """A ``.cube`` file could not be read."""


@dataclass(frozen=True)
class Lut:
    """A 3-D LUT: ``table[r, g, b]`` is the output RGB (float, [0, 1]) at lattice node (r, g, b).

    Node ``i`` of an axis sits at ``domain_min + i / (size - 1) * (domain_max - domain_min)``.
    """

    table: np.ndarray  # (size, size, size, 3) float32, indexed [r, g, b]
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    title: str = ""

    @property
    def size(self) -> int:
        return int(self.table.shape[0])


def identity_lattice(size: int) -> np.ndarray:
    """(size**3, 3) float32 RGB nodes in [0, 1], in ``.cube`` order (red fastest, blue slowest)."""
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)


def _from_rows(rows: np.ndarray, size: int) -> np.ndarray:
    """``.cube`` rows (red fastest) -> table[r, g, b]."""
    return np.ascontiguousarray(rows.reshape(size, size, size, 3).transpose(2, 1, 0, 3), dtype=np.float32)


def _to_rows(table: np.ndarray) -> np.ndarray:
    return table.transpose(2, 1, 0, 3).reshape(-1, 3)


def _check_size(size) -> int:
    if not (isinstance(size, (int, np.integer)) and 2 <= int(size) <= MAX_SIZE):
        raise ParameterError(f"lut_size: must be an integer in 2..{MAX_SIZE}, got {size!r}")
    return int(size)


# --------------------------------------------------------------------------- .cube files
def write_cube(path, lut: Lut, *, overwrite: bool = False) -> Path:
    """Write ``lut`` as an Adobe/Resolve ``.cube`` file, atomically (temporary file, then rename).

    Values are clipped to [0, 1] and written with 6 decimals (below a 10-bit step).
    An existing file is replaced only with ``overwrite=True``.
    """
    from tinct.io.files import check_new_file, temporary_beside

    path = Path(os.fspath(path)).expanduser()
    check_new_file(path, overwrite=overwrite)
    title = " ".join(str(lut.title).replace('"', "'").split())
    head = [f'TITLE "{title}"' if title else None, f"LUT_3D_SIZE {lut.size}"]
    if lut.domain_min != (0.0, 0.0, 0.0) or lut.domain_max != (1.0, 1.0, 1.0):
        head += ["DOMAIN_MIN " + " ".join(f"{v:.6f}" for v in lut.domain_min),
                 "DOMAIN_MAX " + " ".join(f"{v:.6f}" for v in lut.domain_max)]
    rows = np.clip(_to_rows(lut.table).astype(np.float64), 0.0, 1.0)
    text = "\n".join(h for h in head if h) + "\n" + "\n".join(
        f"{r[0]:.6f} {r[1]:.6f} {r[2]:.6f}" for r in rows.tolist()) + "\n"
    with temporary_beside(path) as tmp:
        try:
            tmp.write_text(text, encoding="ascii")
            os.replace(tmp, path)
        except OSError as exc:
            raise ImageWriteError(f"{path}: could not write ({exc.strerror or exc})") from None
    return path


def _floats(parts, path, lineno, n):
    if len(parts) != n:
        raise CubeError(f"{path}: line {lineno}: expected {n} numbers, got {' '.join(parts)[:40]!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise CubeError(f"{path}: line {lineno}: not a number in {' '.join(parts)[:40]!r}") from None
    if not all(np.isfinite(values)):
        raise CubeError(f"{path}: line {lineno}: non-finite value")
    return values


def read_cube(path) -> Lut:
    """Read a 3-D ``.cube`` LUT (Adobe / Resolve), checking it fully.

    Accepts ``TITLE``, ``LUT_3D_SIZE``, ``DOMAIN_MIN`` / ``DOMAIN_MAX`` and Resolve's
    ``LUT_3D_INPUT_RANGE lo hi``; ``#`` comments and blank lines are skipped.

    Raises
    ------
    CubeError
        Missing file, not text, a 1-D LUT, no or a bad ``LUT_3D_SIZE``, a domain whose
        minimum is not below its maximum, a row that is not three numbers, or a row count
        other than ``LUT_3D_SIZE**3``. One line, naming the file.
    """
    path = Path(os.fspath(path)).expanduser()
    if not path.is_file():
        raise CubeError(f"{path}: no such file" if not path.exists() else f"{path}: is not a file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CubeError(f"{path}: not a .cube file (not text)") from None
    except OSError as exc:
        raise CubeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if "\x00" in text:
        raise CubeError(f"{path}: not a .cube file (binary data)")
    size = None
    lo, hi = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    title = ""
    rows: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word = line.split(None, 1)[0]
        if word[0].isalpha() and word.upper() == word:
            rest = line[len(word):].strip()
            if rows:
                raise CubeError(f"{path}: line {lineno}: keyword {word} after the table rows")
            if word == "TITLE":
                title = rest.strip('"')
            elif word == "LUT_3D_SIZE":
                try:
                    size = int(rest)
                except ValueError:
                    raise CubeError(f"{path}: line {lineno}: LUT_3D_SIZE {rest!r} is not an integer") from None
                if not 2 <= size <= MAX_SIZE:
                    raise CubeError(f"{path}: LUT_3D_SIZE {size} is outside 2..{MAX_SIZE}")
            elif word == "LUT_1D_SIZE":
                raise CubeError(f"{path}: is a 1-D LUT (LUT_1D_SIZE); only 3-D LUTs are supported")
            elif word == "DOMAIN_MIN":
                lo = _floats(rest.split(), path, lineno, 3)
            elif word == "DOMAIN_MAX":
                hi = _floats(rest.split(), path, lineno, 3)
            elif word == "LUT_3D_INPUT_RANGE":
                a, b = _floats(rest.split(), path, lineno, 2)
                lo, hi = [a] * 3, [b] * 3
            # other keywords (LUT_IN_VIDEO_RANGE, ...) carry nothing tinct applies
            continue
        rows.append(line)
    if size is None:
        raise CubeError(f"{path}: not a 3-D .cube file (no LUT_3D_SIZE line)")
    if any(a >= b for a, b in zip(lo, hi)):
        raise CubeError(f"{path}: bad domain: DOMAIN_MIN {lo} must be below DOMAIN_MAX {hi} in every channel")
    if len(rows) != size**3:
        raise CubeError(f"{path}: has {len(rows)} table rows, LUT_3D_SIZE {size} needs {size**3}")
    try:
        values = np.array(" ".join(rows).split(), dtype=np.float64)
    except ValueError:
        values = None
    if values is None or values.size != 3 * len(rows) or not np.isfinite(values).all():
        for k, line in enumerate(rows):  # find the culprit for the message (rare path)
            _floats(line.split(), path, f"{k + 1} of the table", 3)
        raise CubeError(f"{path}: malformed table rows")  # pragma: no cover - _floats raised
    return Lut(_from_rows(values.reshape(-1, 3), size), tuple(lo), tuple(hi), title)


# --------------------------------------------------------------------------- apply
def apply_lut(lut: Lut, image) -> np.ndarray:
    """Apply a 3-D LUT to an image or frame by trilinear interpolation.

    Parameters
    ----------
    lut : Lut
    image : (H, W[, 1|3|4]) ndarray
        uint8, uint16 or float in [0, 1]; gray is taken as RGB with equal channels;
        alpha is kept.

    Returns
    -------
    ndarray
        (H, W, 3) (or 4 with alpha), the input's dtype (float input gives float32).
        Integer outputs are rounded to the nearest level, values clipped to [0, 1].

    Notes
    -----
    One compiled pass (numba, run over pixel ranges in threads): about 3 ms per
    480p frame here, so a graded video costs little more than decoding and encoding it.
    """
    from tinct.pixels import _INT_SCALE, check_image, restore, split_alpha
    from tinct.transfer._lut_kernels import lookup

    arr = check_image(image, "image")
    rgb, _ = split_alpha(arr)
    if rgb.ndim == 2:
        rgb = rgb[..., None]
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    if rgb.dtype.kind == "f" and rgb.dtype != np.float32:
        rgb = rgb.astype(np.float32)
    h, w = rgb.shape[:2]
    flat = np.ascontiguousarray(rgb).reshape(-1, 3)
    in_scale = 1.0 / _INT_SCALE.get(flat.dtype, 1.0)
    out = lookup(flat, lut.table, np.array(lut.domain_min), np.array(lut.domain_max), in_scale)
    return restore(out.reshape(h, w, 3), arr)


# --------------------------------------------------------------------------- fit
def _refuse(params: dict) -> None:
    for name in ("target_mask", "reference_mask", "mask"):
        if params.get(name) is not None:
            raise ParameterError(f"{name}: masked transfers are not LUT-able (a LUT changes every pixel of a colour "
                                 "alike); drop the mask, or run the transfer itself")
    if params.get("feather", 0.0):
        raise ParameterError("feather: a feathered edge depends on pixel position and is not LUT-able; use feather=0")


def check_lutable(method: str, params: dict) -> dict:
    """Check that ``method`` with ``params`` is a pointwise transfer a LUT can hold; return the validated params.

    Raises a one-line :class:`~tinct.errors.ParameterError` for a mask, a feather, or a method
    that is not pointwise (``superpixel``, colorization methods).
    """
    from tinct.registry import get_method

    _refuse(params)
    if method not in LUTABLE:
        get_method(method)  # an unknown name gets the registry's own message
        raise ParameterError(f"method: {method!r} is not a pointwise transfer; LUT export supports "
                             f"{', '.join(LUTABLE)}")
    m = get_method(method, "transfer")
    return m.validate({k: v for k, v in params.items() if v is not None})


def color_map(method: str, target, reference, **params):
    """Fit ``method`` on ``target`` and ``reference`` and return its colour map.

    Parameters
    ----------
    method : {'reinhard', 'mkl', 'gmm', 'sliced'}
    target, reference : ndarray
        As for the transfer itself (uint8, uint16 or float; a gray reference is refused).
    **params
        The method's parameters; masks and ``feather`` are refused (not LUT-able);
        ``sliced``'s ``regrain`` and ``lut_size`` are ignored (a LUT has no spatial step,
        and the map is evaluated on the LUT's own lattice).

    Returns
    -------
    callable
        ``f(rgb)``: (N, 3) float32 sRGB in [0, 1] -> (N, 3) float32 in [0, 1], the colour the
        method gives a target pixel of that colour.
    """
    from tinct.pixels import is_grayscale

    params = check_lutable(method, params)
    if is_grayscale(reference):
        raise ParameterError(f"reference: is grayscale, it has no colours for {method} to transfer")
    return {"reinhard": _reinhard_map, "mkl": _mkl_map, "gmm": _gmm_map, "sliced": _sliced_map}[method](
        target, reference, **params)


def _blend(x, y, strength):
    if strength != 1.0:
        y = x + np.float32(strength) * (y - x)
    return y


def _reinhard_map(target, reference, *, strength=1.0, keep_lightness=False):
    from tinct.color.lab import lab2rgb, rgb2lab
    from tinct.transfer._common import prepare_pair
    from tinct.transfer.reinhard import _float32, _lab_stats, lab_affine

    pair = prepare_pair(target, reference, None, None, method="reinhard", min_pixels=0, gray_reference=True)
    mu_t, sd_t = _lab_stats(_float32(pair.t_rgb), None)
    mu_r, sd_r = _lab_stats(_float32(pair.r_rgb), None)
    scale, shift = lab_affine(mu_t, sd_t, mu_r, sd_r, strength=strength, keep_lightness=keep_lightness)
    scale, shift = scale.astype(np.float32), shift.astype(np.float32)

    def f(rgb):
        return lab2rgb(rgb2lab(rgb) * scale + shift)

    return f


def _space_map(func, space, strength):
    """Wrap a working-space map as an sRGB [0, 1] -> sRGB [0, 1] map (as apply_pointwise runs it)."""
    from tinct.transfer._common import from_space, to_space

    def f(rgb):
        x = to_space(np.asarray(rgb, np.float32), space)
        return from_space(_blend(x, func(x), strength), space, np.float32)

    return f


def _mkl_map(target, reference, *, color_space="rgb", samples=200_000, seed=0, feather=0.0, strength=1.0):
    from tinct.transfer._common import prepare_pair, sample_pixels
    from tinct.transfer.mkl import mean_cov, mkl_map

    pair = prepare_pair(target, reference, None, None, method="mkl", min_pixels=2)
    mu_t, cov_t = mean_cov(sample_pixels(pair.t_rgb, None, samples, seed), color_space)
    mu_r, cov_r = mean_cov(sample_pixels(pair.r_rgb, None, samples, seed), color_space)
    a, b = mkl_map(mu_t, cov_t, mu_r, cov_r, color_space)
    a32, b32 = a.T.astype(np.float32), b.astype(np.float32)
    return _space_map(lambda x: x @ a32 + b32, color_space, strength)


def _gmm_map(target, reference, *, n_components=3, mode="monge", color_space="rgb", matching="optimal",
             temperature=1.0, samples=20000, seed=0, feather=0.0, strength=1.0):
    from tinct.transfer._common import prepare_pair, sample_pixels, to_space
    from tinct.transfer.gmm import REG_COVAR, fit_gmm, make_gmm_map, match_components

    k = n_components
    pair = prepare_pair(target, reference, None, None, method="gmm", min_pixels=10 * k)
    mixtures = []
    for name, rgb in (("target", pair.t_rgb), ("reference", pair.r_rgb)):
        sample = sample_pixels(rgb, None, samples, seed)
        distinct = len(np.unique(sample, axis=0))
        if distinct < k:
            raise ParameterError(f"n_components: {k} is more than the {distinct} distinct colours in the {name}")
        mixtures.append(fit_gmm(to_space(sample, color_space), k, reg_covar=REG_COVAR[color_space], seed=seed))
    match = match_components(mixtures[0], mixtures[1], matching, seed)
    return _space_map(make_gmm_map(mixtures[0], mixtures[1], match, mode, temperature), color_space, strength)


def _sliced_map(target, reference, *, color_space="rgb", iterations=20, samples=50000, lut_size=33, regrain=4,
                seed=0, feather=0.0, strength=1.0):
    from tinct.transfer._common import prepare_pair, sample_pixels, to_space
    from tinct.transfer.sliced import apply_sliced, fit_sliced

    pair = prepare_pair(target, reference, None, None, method="sliced", min_pixels=2)
    x_t = to_space(sample_pixels(pair.t_rgb, None, samples, seed), color_space)
    x_r = to_space(sample_pixels(pair.r_rgb, None, samples, seed + 1), color_space)
    steps = fit_sliced(x_t, x_r, iterations, seed)

    def f(rgb):
        from tinct.color.lab import lab2rgb

        mapped = apply_sliced(steps, to_space(np.asarray(rgb, np.float32), color_space)).astype(np.float32)
        mapped = lab2rgb(mapped) if color_space == "lab" else np.clip(mapped, 0.0, 1.0)
        # sliced blends in RGB after its own LUT (apply_pointwise in 'rgb'), so the LUT does too
        return np.clip(_blend(np.asarray(rgb, np.float32), mapped, strength), 0.0, 1.0)

    return f


def lut_from_map(func, size: int = DEFAULT_SIZE, title: str = "") -> Lut:
    """Evaluate a colour map (sRGB (N, 3) [0, 1] -> same) on an identity lattice of ``size**3`` nodes."""
    size = _check_size(size)
    rows = np.clip(np.asarray(func(identity_lattice(size)), np.float32), 0.0, 1.0)
    return Lut(_from_rows(rows, size), title=title)


def _lattice_weights(x: np.ndarray, size: int):
    """Sparse (N, size**3) trilinear weights of RGB points in [0, 1] on the lattice (flat index (r*S+g)*S+b)."""
    import scipy.sparse as sp

    n = x.shape[0]
    pos = np.clip(x, 0.0, 1.0) * (size - 1)
    i0 = np.minimum(pos.astype(np.int64), size - 2)
    f = pos - i0
    cols, vals = [], []
    for dr in (0, 1):
        for dg in (0, 1):
            for db in (0, 1):
                w = np.ones(n)
                for c, d in enumerate((dr, dg, db)):
                    w = w * (f[:, c] if d else 1.0 - f[:, c])
                cols.append(((i0[:, 0] + dr) * size + i0[:, 1] + dg) * size + i0[:, 2] + db)
                vals.append(w)
    rows = np.tile(np.arange(n), 8)
    return sp.csr_matrix((np.concatenate(vals), (rows, np.concatenate(cols))), shape=(n, size**3))


def refine_lut(lut: Lut, source, result, *, samples: int = 200_000, prior: float = 1.0, seed: int = 0) -> Lut:
    """Adjust the nodes so that the LUT applied to ``source`` comes closest to ``result`` (least squares).

    Solves ``min_L sum_p |T(x_p; L) - y_p|^2 + prior * sum_k |L_k - L0_k|^2`` by conjugate gradients,
    where ``T`` is trilinear interpolation, ``x_p`` / ``y_p`` a seeded sample of source / result
    pixels and ``L0`` the LUT given. Nodes far from the source's colours keep their value; nodes
    among them move to absorb the interpolation error of a steep map (``gmm``'s switch between
    components) and the mean effect of a spatial step (``sliced``'s ``regrain``).

    Parameters
    ----------
    lut : Lut
        Domain [0, 1].
    source, result : ndarray
        The target image and the method's output on it, same size (any tinct dtype).
    samples : int
        Pixels used (seeded subsample).
    prior : float
        Weight of a node's original value, in units of one pixel's weight.
    """
    from scipy.sparse import identity
    from scipy.sparse.linalg import cg

    from tinct.pixels import to_float_rgb

    source, result = np.asarray(source), np.asarray(result)
    if source.shape[:2] != result.shape[:2]:
        raise ParameterError(f"result: shape {result.shape[:2]} does not match the target's {source.shape[:2]}")
    n = source.shape[0] * source.shape[1]
    idx = np.random.default_rng(seed).integers(0, n, samples) if n > samples else np.arange(n)
    # sample before converting: a 12 MP float copy would cost 144 MB
    x, y = (to_float_rgb(a.reshape(n, 1, -1)[idx], name).reshape(-1, 3)
            for a, name in ((source, "target"), (result, "result")))
    size = lut.size
    w = _lattice_weights(x.astype(np.float64), size)
    a = (w.T @ w + prior * identity(size**3)).tocsr()
    l0 = lut.table.reshape(-1, 3).astype(np.float64)
    b = w.T @ y.astype(np.float64) + prior * l0
    out = np.empty_like(l0)
    for c in range(3):
        out[:, c], _ = cg(a, b[:, c], x0=l0[:, c], maxiter=200, rtol=1e-5)
    table = np.clip(out, 0.0, 1.0).reshape(lut.table.shape).astype(np.float32)
    return Lut(table, lut.domain_min, lut.domain_max, lut.title)


def fit_lut(method: str, target, reference, size: int = DEFAULT_SIZE, *, refine: bool = True, result=None,
            **params) -> Lut:
    """Fit ``method`` on ``target`` / ``reference`` and bake its colour map into a ``size**3`` LUT.

    Parameters
    ----------
    method : {'reinhard', 'mkl', 'gmm', 'sliced'}
    target, reference : ndarray
    size : int, default 33
        Nodes per axis (17, 33 and 65 are the sizes editors expect).
    refine : bool, default True
        For ``gmm`` and ``sliced``, whose maps are steep or have a spatial step, then fit the
        nodes to the method's output on the target (:func:`refine_lut`); the affine maps of
        ``reinhard`` and ``mkl`` need no refinement.
    result : ndarray, optional
        The method's output on ``target`` with these parameters, when the caller has it
        (otherwise it is computed for the refinement).
    **params
        The method's parameters (see :func:`color_map`).

    Returns
    -------
    Lut

    Notes
    -----
    Applied to the target at size 33, the LUT reproduces the method's own output within a
    mean CIEDE2000 of 0.28 (reinhard), 0.11 (mkl), 0.63 (gmm) and 0.00 (sliced without
    regrain; 2.0 against sliced's default regrain=4, the fine detail a LUT cannot carry) on
    the eight transfer pairs of the evaluation data (``docs/video-batch.md``).
    """
    size = _check_size(size)
    func = color_map(method, target, reference, **params)
    lut = lut_from_map(func, size, title=f"tinct {method}")
    if refine and method in ("gmm", "sliced"):
        if result is None:
            from tinct.registry import get_method

            result = get_method(method)(target, reference, **params)
        lut = refine_lut(lut, target, result)
    return lut


def export_lut(method: str, target, reference, path, size: int = DEFAULT_SIZE, *, overwrite: bool = False,
               result=None, **params) -> Lut:
    """:func:`fit_lut`, then :func:`write_cube` to ``path``; returns the LUT.

    This is what ``tinct transfer TARGET -r REF -m METHOD --export-lut FILE.cube --lut-size N``
    calls; pass the transfer's own output as ``result`` to save running the method twice.
    """
    size = _check_size(size)
    lut = fit_lut(method, target, reference, size, result=result, **params)
    write_cube(path, lut, overwrite=overwrite)
    return lut
