"""Scribble colorization: Levin, Lischinski & Weiss, "Colorization using optimization" (2004).

Colours given at a few scribbled pixels are propagated to the rest of a gray
image by asking every pixel's chroma to equal the affinity-weighted average
of its 3 x 3 neighbours' chroma, where the affinities come from luminance
similarity. That is one sparse linear system per chroma channel.

The weights follow the authors' reference MATLAB code (``getColorExploit.m``)
line by line: for a pixel r with neighbours s in its 3 x 3 window (clipped at
the border), ``w_rs = exp(-(Y(s) - Y(r))^2 / c_r)`` with
``c_r = 0.6 * var(Y over the window, centre included)`` (population variance),
raised to ``-min_s (Y(s) - Y(r))^2 / ln(0.01)`` where needed so that the most
similar neighbour keeps an unnormalised weight of at least 0.01, and never
below ``2e-6``; weights are normalised to sum 1; scribbled pixels are fixed.
Y is the luma of the gray image in [0, 1] (YIQ's Y, as the reference; L / 100
when ``space='lab'``).

Unlike the reference (one sparse LU per channel through MATLAB's backslash),
the scribbled unknowns are eliminated and the CSR matrix of the remaining
non-symmetric system is written straight from the eight weight planes (int32
indices, no COO or per-row temporaries; the couplings to scribbled neighbours
become a small sparse matrix for the right-hand side). Two solvers, both one
setup for both chroma channels:

* ``'direct'`` (``solver='auto'`` up to 1.5 MP): SuperLU on the system in a
  geometric nested-dissection order without pivoting (the matrix is row
  diagonally dominant), factorised once; exact, about 10 CPU s and 2 GB at 1 MP.
* ``'amg'``: BiCGStab to a relative residual of 1e-6, preconditioned by
  smoothed-aggregation AMG (:func:`amg_hierarchy`); far less memory than the
  factors, but its iteration count grows with the image (below).

``solver='auto'`` solves exactly (direct) up to 1.5 MP. Above that it solves
the same system on an area-downscaled 1.5 MP proxy (a proxy pixel covering any
scribble is scribbled with their mean chroma) and brings the chroma back by
joint bilateral upsampling guided by the full-resolution L, keeping the
scribbled pixels' own colours: 12 MP in about 25 s and 3 GB, where the
full-size AMG solve had not converged after 400 iterations (25 CPU minutes).
On a test image the proxy's chroma is within a median 1.1 a/b units of the
exact solve. ``'direct'`` and ``'amg'`` always solve at full resolution.

The system is hard for iterative methods: in flat areas the reference's
``c_r`` floor turns every 8-bit quantisation step into a near-cut, so the
matrix is badly conditioned and a residual of 1e-5 still leaves chroma errors
around 1e-3 at 1 MP; 1e-6 is kept (errors ~3e-4 against the direct solve).
Measured on kodim05 scaled, 1 % strokes (``benchmarks/scribble.py``): BiCGStab
needs 13 iterations per channel at 0.25 MP, 28-29 at 1 MP and 101 at 4 MP,
so AMG is slower than the direct solver at 1 MP (15.5 against 10.7 CPU s) and
does not converge within 400 iterations at 12 MP.

References
----------
.. [1] A. Levin, D. Lischinski, Y. Weiss, "Colorization using optimization",
       ACM SIGGRAPH 2004 (ACM TOG 23(3)), pp. 689-694. Reference code:
       https://www.cs.huji.ac.il/~yweiss/Colorization/
.. [2] P. Vanek, J. Mandel, M. Brezina, "Algebraic multigrid by smoothed
       aggregation for second and fourth order elliptic problems", Computing
       56, 1996; N. Bell, L. Olson, J. Schroder, "PyAMG: Algebraic multigrid
       solvers in Python", JOSS 7(72), 2022.
.. [3] A. George, "Nested dissection of a regular finite element mesh",
       SIAM J. Numer. Anal. 10(2), 1973.
"""

from __future__ import annotations

import numpy as np

from tinct.errors import ParameterError, TinctError
from tinct.pixels import check_image, split_alpha, to_float_rgb
from tinct.registry import Param, register

# The 3 x 3 window in raster order; the centre (0, 0) sits between (0, -1) and (0, 1),
# so column indices of a CSR row come out sorted.
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_LN_001 = np.log(0.01)
_C_MIN = 2e-6

# NTSC (YIQ) as MATLAB's rgb2ntsc / ntsc2rgb, which the reference uses.
_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)

_RTOL = 1e-6  # relative residual of the iterative solve: ~1e-4 chroma error at 1 MP (1e-5 leaves ~1e-3)
_MAXITER = 400
_DIRECT_MAX = 1_500_000  # solver='auto': SuperLU up to here (~2 GB of factors at 1.5 MP), AMG above
_PROXY_MP = _DIRECT_MAX / 1e6  # scribble(solver='auto'): the largest proxy is the largest direct solve


def affinity_weights(luma: np.ndarray) -> np.ndarray:
    """Normalised 3 x 3 affinities of the reference implementation, vectorised.

    Parameters
    ----------
    luma : (H, W) ndarray
        Intensity in [0, 1].

    Returns
    -------
    w : (8, H, W) float32 ndarray
        ``w[k, y, x]`` is the weight of neighbour ``_NEIGHBOURS[k]`` of pixel
        (y, x); 0 for neighbours outside the image. Each pixel's weights sum to 1.
    """
    y = np.asarray(luma, dtype=np.float64)
    h, w = y.shape
    out = np.zeros((8, h, w), np.float32)
    rows = max(1, (1 << 19) // max(1, w))  # ~0.5 MP per block keeps float64 temporaries small
    for top in range(0, h, rows):
        bot = min(h, top + rows)
        out[:, top:bot] = _weights_block(y, top, bot)
    return out


def _weights_block(y: np.ndarray, top: int, bot: int) -> np.ndarray:
    h, w = y.shape
    lo, hi = max(0, top - 1), min(h, bot + 1)
    pad = np.full((hi - lo + 2, w + 2), np.nan)
    pad[1:-1, 1:-1] = y[lo:hi]
    r0 = top - lo + 1  # row of `top` inside pad
    n = bot - top
    centre = y[top:bot]
    nb = np.stack([pad[r0 + dy : r0 + dy + n, 1 + dx : 1 + dx + w] for dy, dx in _NEIGHBOURS])
    valid = ~np.isnan(nb)
    count = valid.sum(axis=0) + 1.0
    nb0 = np.where(valid, nb, 0.0)
    mean = (nb0.sum(axis=0) + centre) / count
    var = ((np.where(valid, nb0 - mean, 0.0) ** 2).sum(axis=0) + (centre - mean) ** 2) / count
    d2 = np.where(valid, (nb0 - centre) ** 2, np.inf)
    c = 0.6 * var
    mgv = d2.min(axis=0)
    np.maximum(c, np.where(np.isfinite(mgv), -mgv / _LN_001, 0.0), out=c)
    np.maximum(c, _C_MIN, out=c)
    wk = np.exp(-d2 / c)  # exp(-inf) = 0 outside the image
    total = wk.sum(axis=0)
    total[total == 0] = 1.0  # a 1 x 1 image has no neighbours
    return (wk / total).astype(np.float32)


def build_system(luma, fixed, prior_weight: float = 0.0):
    """The linear system of the unknown (unscribbled) pixels.

    Row r of the full system reads ``(1 + lam) x_r - sum_s w_rs x_s = lam p_r``
    (``lam = prior_weight``, ``p`` a prior chroma; ``lam = 0`` is the
    reference). Scribbled pixels are fixed, so their columns move to the
    right-hand side.

    Parameters
    ----------
    luma : (H, W) ndarray
        Intensity in [0, 1].
    fixed : (H, W) bool ndarray
        Scribbled pixels.
    prior_weight : float
        ``lam`` above.

    Returns
    -------
    A : scipy.sparse.csr_matrix
        (n, n) float64 for the n unknown pixels, in raster order.
    coupling : callable
        ``coupling(values)`` maps fixed values (H, W, C) to the right-hand side
        (n, C) contributed by scribbled neighbours.
    """
    import scipy.sparse as sp

    h, w = fixed.shape
    weights = affinity_weights(luma)
    free = ~fixed
    n, nf = int(free.sum()), int(fixed.sum())
    index = np.full((h + 2, w + 2), -1, np.int32)  # unknown number of each pixel, -1 outside / scribbled
    index[1:-1, 1:-1][free] = np.arange(n, dtype=np.int32)
    fixed_index = np.full((h + 2, w + 2), -1, np.int32)  # number among the scribbled pixels
    fixed_index[1:-1, 1:-1][fixed] = np.arange(nf, dtype=np.int32)

    def window(a, k):
        dy, dx = _NEIGHBOURS[k]
        return a[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w][free]

    # CSR straight from the weight planes: count each row's entries, then fill slot by slot in column order
    # (the centre sits between neighbours 3 and 4). No COO, no (n, 9) temporaries: ~110 bytes per unknown.
    counts = np.ones(n, np.int64)
    for k in range(8):
        counts += window(index, k) >= 0
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    del counts
    nnz = int(indptr[-1])
    itype = np.int32 if nnz < 2**31 - 1 else np.int64
    data = np.empty(nnz, np.float64)
    indices = np.empty(nnz, itype)
    pos = indptr[:-1].copy()
    rows_c, cols_c, vals_c = [], [], []  # couplings to scribbled neighbours, for the right-hand side
    for j in range(9):
        if j == 4:
            indices[pos] = np.arange(n, dtype=itype)
            data[pos] = 1.0 + prior_weight
            pos += 1
            continue
        k = j if j < 4 else j - 1
        col = window(index, k)
        ok = col >= 0
        wk = weights[k][free]
        at = pos[ok]
        indices[at] = col[ok]
        data[at] = -wk[ok]
        pos += ok
        del col, ok, at
        fcol = window(fixed_index, k)
        hit = np.flatnonzero(fcol >= 0)
        rows_c.append(hit)
        cols_c.append(fcol[hit])
        vals_c.append(wk[hit].astype(np.float64))
    del pos, weights, index, fixed_index
    A = sp.csr_matrix((data, indices, indptr.astype(itype)), shape=(n, n))
    B = sp.csr_matrix((np.concatenate(vals_c), (np.concatenate(rows_c), np.concatenate(cols_c))), shape=(n, nf))

    def coupling(values: np.ndarray) -> np.ndarray:
        v = np.asarray(values)[fixed].astype(np.float64)
        return np.asarray(B @ v).reshape((n,) + v.shape[1:])

    return A, coupling


def nested_dissection(h: int, w: int, leaf: int = 64) -> np.ndarray:
    """Geometric nested-dissection order of the pixels of an (h, w) grid.

    The grid is cut in half across its longer side by a one-pixel separator,
    recursively; each half is numbered before its separator. Factorising a
    3 x 3-stencil matrix in this order keeps the fill of L and U near
    O(N log N), where SuperLU's default COLAMD order fills twice as much and
    takes about four times longer.

    References
    ----------
    .. [1] A. George, "Nested dissection of a regular finite element mesh",
           SIAM J. Numer. Anal. 10(2), 1973.
    """
    parts: list[np.ndarray] = []
    stack = [(0, h, 0, w, False)]
    while stack:
        r0, r1, c0, c1, sep = stack.pop()
        if r1 <= r0 or c1 <= c0:
            continue
        if sep or (r1 - r0) * (c1 - c0) <= leaf:
            parts.append((np.arange(r0, r1)[:, None] * w + np.arange(c0, c1)[None, :]).ravel())
            continue
        # LIFO: push the separator first so that it is emitted after both halves.
        if r1 - r0 >= c1 - c0:
            m = (r0 + r1) // 2
            stack += [(m, m + 1, c0, c1, True), (m + 1, r1, c0, c1, False), (r0, m, c0, c1, False)]
        else:
            m = (c0 + c1) // 2
            stack += [(r0, r1, m, m + 1, True), (r0, r1, m + 1, c1, False), (r0, r1, c0, m, False)]
    return np.concatenate(parts)


def solve(A, rhs: np.ndarray, solver: str = "auto", x0: np.ndarray | None = None,
          fixed: np.ndarray | None = None) -> np.ndarray:
    """Solve ``A X = rhs`` for every column of ``rhs`` with one factorisation or one AMG hierarchy.

    Parameters
    ----------
    A : scipy.sparse matrix
        Square, non-singular and row diagonally dominant (as :func:`build_system`
        makes it), so LU needs no pivoting.
    rhs : (n, C) ndarray
    solver : {'auto', 'direct', 'amg'}
        ``'direct'``: SuperLU, factorised once (in nested-dissection order
        when ``fixed`` gives the grid, without pivoting) and reused for every
        column. ``'amg'``: BiCGStab preconditioned by a smoothed-aggregation
        AMG V-cycle (PyAMG, :func:`amg_hierarchy`), one hierarchy for every
        column, relative residual 1e-6; far less memory than the factors. ``'auto'``: direct up to
        1.5 million unknowns, AMG above.
    x0 : (n, C) ndarray, optional
        Initial guess for ``'amg'``.
    fixed : (H, W) bool ndarray, optional
        The scribble mask ``A`` was built with (its unknowns are the other
        pixels in raster order); enables the nested-dissection order.

    Returns
    -------
    (n, C) float64 ndarray
    """
    if A.shape[0] == 0:
        return np.zeros_like(rhs)
    if solver == "auto":
        solver = "direct" if A.shape[0] <= _DIRECT_MAX else "amg"
    if solver == "direct":
        import scipy.sparse.linalg as sla

        if fixed is None:
            return sla.splu(A.tocsc()).solve(np.ascontiguousarray(rhs))
        h, w = fixed.shape
        unknown = np.full(h * w, -1, np.int64)
        unknown[~fixed.ravel()] = np.arange(A.shape[0])
        perm = unknown[nested_dissection(h, w)]
        perm = perm[perm >= 0]
        Ap = A[perm][:, perm].tocsc()
        lu = sla.splu(Ap, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        del Ap
        out = np.empty_like(rhs)
        out[perm] = lu.solve(np.ascontiguousarray(rhs[perm]))
        return out
    if solver != "amg":
        raise ParameterError(f"solver: expected 'auto', 'amg' or 'direct', got {solver!r}")
    from threadpoolctl import threadpool_limits

    # BiCGStab's inner products go to BLAS: threads spinning on a 2-core machine doubled the solve time.
    with threadpool_limits(1):
        return _solve_amg(A, rhs, x0)


def _solve_amg(A, rhs, x0):
    ml = amg_hierarchy(A)
    out = np.empty_like(rhs)
    for c in range(rhs.shape[1]):
        b = rhs[:, c]
        if not b.any() and (x0 is None or not x0[:, c].any()):
            out[:, c] = 0.0
            continue
        guess = None if x0 is None else x0[:, c]
        residuals: list[float] = []
        out[:, c] = ml.solve(b, x0=guess, tol=_RTOL, accel="bicgstab", maxiter=_MAXITER, residuals=residuals)
        if residuals and residuals[-1] > 1e-3 * max(residuals[0], np.linalg.norm(b)):
            raise TinctError(f"scribble: the AMG solver did not converge (residual {residuals[-1]:.2g}); try solver=direct")
    return out


def amg_hierarchy(A, theta: float = 0.25, omega: float = 4.0 / 3.0, max_coarse: int = 2000, max_levels: int = 12):
    """Smoothed-aggregation AMG hierarchy for the (non-symmetric) scribble system, built with little memory.

    PyAMG's ``smoothed_aggregation_solver(symmetry='nonsymmetric')`` with
    classical strength (theta 0.25), Jacobi-smoothed prolongation and
    restriction with row-local weights, and candidate vectors improved by
    relaxation, written out level by level so that no transposed copy of ``A``,
    no ``|A|`` and no BSR copies are made and the Galerkin product is formed by
    blocks (at 12 MP the whole ``scribble()`` call reached 8.2 GB resident with
    PyAMG's own setup, 5.7 GB with this one), and PyAMG's Arnoldi estimate of
    the spectral radius (85 % of its setup time) is not needed. On a 1 MP
    Kodak image: 2.2 s setup and 28-29 BiCGStab iterations per channel, against
    74-92 for the Ruge-Stueben hierarchy used before; the count grows with the
    image size on this problem (see the module docstring). The hierarchy:

    * aggregates of strongly connected unknowns (``|a_ij| >= theta max_k |a_ik|``),
      so that they do not cross luminance edges, whose affinities are orders of
      magnitude below a row's largest;
    * tentative prolongation ``T`` from the near-null vector (constants, relaxed
      by 4 symmetric Gauss-Seidel sweeps on ``A b = 0``); ``TH`` likewise from
      relaxed ``A^T`` (Jacobi);
    * ``P = T - omega D^-1 A T`` and ``R = (TH - omega Dt^-1 A^T TH)^T`` with
      ``D``, ``Dt`` the row / column sums of ``|A|``; ``A_c = R A P``;
    * Gauss-Seidel forward before and backward after; SuperLU on the coarsest level.

    Returns
    -------
    pyamg.multilevel.MultilevelSolver
    """
    import scipy.sparse as sp
    from pyamg import amg_core
    from pyamg.aggregation import standard_aggregation
    from pyamg.multilevel import MultilevelSolver
    from pyamg.relaxation.smoothing import change_smoothers
    from pyamg.strength import classical_strength_of_connection

    def tentative(agg, b):
        counts = np.diff(agg.indptr)
        rows = np.repeat(np.arange(agg.shape[0]), counts)
        j = agg.indices
        norms = np.sqrt(np.bincount(j, b[rows] ** 2, minlength=agg.shape[1]))
        norms[norms == 0] = 1.0
        return sp.csr_matrix((b[rows] / norms[j], j, agg.indptr), shape=agg.shape), norms

    A = sp.csr_matrix(A, dtype=np.float64)
    A.sort_indices()
    levels = []
    b = np.ones(A.shape[0])
    bh = np.ones(A.shape[0])
    while True:
        level = MultilevelSolver.Level()
        level.A = A
        levels.append(level)
        n = A.shape[0]
        if n <= max_coarse or len(levels) >= max_levels:
            break
        C = classical_strength_of_connection(A, theta=theta)
        agg = standard_aggregation(C)[0].tocsr()
        del C
        if agg.shape[1] == 0 or agg.shape[1] >= n:
            break
        zero = np.zeros(n)
        for _ in range(4):  # improve the candidates: b towards A b = 0, bh towards A^T bh = 0
            amg_core.gauss_seidel(A.indptr, A.indices, A.data, b, zero, 0, n, 1)
            amg_core.gauss_seidel(A.indptr, A.indices, A.data, b, zero, n - 1, -1, -1)
        diag = A.diagonal()
        if np.count_nonzero(A.data > 0) == np.count_nonzero(diag > 0) == n:  # an M-matrix (the finest level):
            ones = np.ones(n)  # row and column sums of |A| without a copy of A
            d_row = 2.0 * diag - A @ ones
            d_col = 2.0 * diag - A.T @ ones
        else:
            absA = abs(A)
            d_row = np.asarray(absA.sum(axis=1)).ravel()
            d_col = np.asarray(absA.sum(axis=0)).ravel()
            del absA
        for _ in range(4):
            bh -= (2.0 / 3.0) * (A.T @ bh) / diag
        T, b_coarse = tentative(agg, b)
        TH, bh_coarse = tentative(agg, bh)
        del agg
        AT = A @ T
        AT.data *= np.repeat(omega / d_row, np.diff(AT.indptr))
        P = (T - AT).tocsr()
        del AT, T
        THt = TH.T.tocsr()
        del TH
        THtA = THt @ A
        THtA.data *= (omega / d_col)[THtA.indices]
        R = (THt - THtA).tocsr()
        del THtA, THt
        level.P, level.R = P, R
        # A_c = R A P by blocks of rows of R: the n x n_c product A P alone would take 1.4 GB at 12 MP.
        step = max(1, R.shape[0] // 8)
        A = sp.vstack([(R[i : i + step] @ A) @ P for i in range(0, R.shape[0], step)], format="csr")
        A.sort_indices()
        b, bh = b_coarse, bh_coarse
    ml = MultilevelSolver(levels, coarse_solver="splu")
    change_smoothers(ml, presmoother=("gauss_seidel", {"sweep": "forward"}),
                     postsmoother=("gauss_seidel", {"sweep": "backward"}))
    return ml


def parse_scribbles(image_rgb: np.ndarray, scribbles, scribble_mask=None, tolerance: float = 0.05):
    """Turn user scribbles into a mask and the scribbled colours.

    Parameters
    ----------
    image_rgb : (H, W, 3) float32 ndarray
        The gray image as RGB in [0, 1].
    scribbles : ndarray or (mask, colours) tuple
        A colour-marked copy of the gray image (pixels that differ from it are
        scribbles), or the colours with ``scribble_mask`` / as a pair.
    scribble_mask : (H, W) array_like, optional
        Nonzero at scribbled pixels; when given, ``tolerance`` is not used.
    tolerance : float
        A pixel is a scribble when the sum over R, G, B of ``|marked - gray|``
        (values in [0, 1]) exceeds this, as in the reference (which uses
        0.01). tinct's default 0.05 (about 4/255 per channel) ignores JPEG
        noise; in addition a marked pixel that is itself neutral (channel
        spread at most ``tolerance / 2``) and differs by at most
        ``4 * tolerance`` is taken for compression noise of the gray (a gray
        input saved as JPEG next to a PNG marked copy), not a scribble.

    Returns
    -------
    mask : (H, W) bool ndarray
    colours : (n, 3) float32 ndarray
        sRGB in [0, 1] of the scribbled pixels, in raster order.
    """
    from tinct.pixels import check_mask

    if isinstance(scribbles, (tuple, list)) and len(scribbles) == 2 and scribble_mask is None:
        scribble_mask, scribbles = scribbles
    if scribbles is None:
        raise ParameterError("scribbles: required (a colour-marked copy of the image, or a mask and colours)")
    marked = check_image(scribbles, "scribbles")
    if marked.shape[:2] != image_rgb.shape[:2]:
        raise ParameterError(f"scribbles: shape {marked.shape[:2]} does not match the image's {image_rgb.shape[:2]}")
    marked_rgb = to_float_rgb(split_alpha(marked)[0] if marked.ndim == 3 else marked, "scribbles")
    if scribble_mask is not None:
        mask = check_mask(scribble_mask, image_rgb.shape[:2], "scribble_mask")
    else:
        diff = np.abs(marked_rgb - image_rgb).sum(axis=2)
        neutral_noise = (np.ptp(marked_rgb, axis=2) <= tolerance / 2) & (diff <= 4 * tolerance)
        mask = (diff > tolerance) & ~neutral_noise
    return mask, marked_rgb[mask]


def _chroma(rgb: np.ndarray, space: str) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> (..., 2) chroma: I, Q or a, b."""
    if space == "yiq":
        return (rgb.astype(np.float64) @ _RGB2YIQ[1:].T).astype(np.float32)
    from tinct.color.lab import rgb2lab

    return rgb2lab(rgb)[..., 1:]


def _prior_chroma(image, prior: str, prior_image, space: str, shape) -> np.ndarray | None:
    if prior_image is not None:
        p = check_image(prior_image, "prior_image")
        if p.shape[:2] != tuple(shape):
            raise ParameterError(f"prior_image: shape {p.shape[:2]} does not match the image's {tuple(shape)}")
        return _chroma(to_float_rgb(split_alpha(p)[0] if p.ndim == 3 else p, "prior_image"), space)
    if prior == "none":
        return None
    from tinct.registry import get_method

    method = get_method(prior, "colorize")
    if method.reference == "required" or method.scribbles == "required":
        raise ParameterError(f"prior: method {prior!r} needs a reference or scribbles; use an automatic method")
    return _chroma(to_float_rgb(method(image)), space)


def _propagate(luma, mask, known, prior_ab, lam, solver) -> np.ndarray:
    """(H, W, 2) chroma: ``known`` at scribbled pixels, the solution of the Levin system elsewhere."""
    A, coupling = build_system(luma, mask, lam)
    rhs = coupling(known)
    del coupling
    free = ~mask
    if prior_ab is not None and lam > 0:
        rhs += lam * prior_ab[free]
    x = solve(A, rhs, solver, x0=None if prior_ab is None else prior_ab[free].astype(np.float64), fixed=mask)
    del A, rhs
    chroma = known.copy()
    chroma[free] = x
    return chroma


def _propagate_on_proxy(luma, lightness, mask, known, prior_ab, lam, proxy_pixels: float) -> np.ndarray:
    """Chroma of a large image from the exact solve on an area-downscaled proxy of ``proxy_pixels``.

    Each proxy pixel that covers any scribbled pixel is scribbled with their mean
    chroma; the proxy's chroma is brought back to full size by joint bilateral
    upsampling guided by the full-resolution L (as the CNN colorizers do), and
    the scribbled pixels keep their own colours exactly. Time and memory stay
    those of a 1.5 MP direct solve plus a few full-size arrays, where the
    full-size iterative solve needs hundreds of iterations at 12 MP.
    """
    from tinct.colorize.upsample import joint_bilateral_upsample, resize

    h, w = mask.shape
    scale = (proxy_pixels / (h * w)) ** 0.5
    size = (max(1, int(h * scale)), max(1, int(w * scale)))
    coverage = resize(mask.astype(np.float32), size)
    mask_p = coverage > 0
    known_p = np.zeros(size + (2,), np.float32)
    known_p[mask_p] = resize(known, size)[mask_p] / coverage[mask_p][:, None]  # mean over the scribbled part
    prior_p = None if prior_ab is None else resize(prior_ab, size)
    chroma_p = _propagate(resize(luma, size), mask_p, known_p, prior_p, lam, "direct")
    chroma = joint_bilateral_upsample(chroma_p, lightness)
    chroma[mask] = known[mask]
    return chroma


@register(
    "scribble",
    kind="colorize",
    summary="Propagate colour scribbles by luminance affinities (Levin, Lischinski & Weiss 2004).",
    params=[
        Param("space", "str", "yiq", "Chroma space: yiq (the reference) or lab.", choices=("yiq", "lab")),
        Param("tolerance", "float", 0.05, "A marked pixel is a scribble when sum |marked - gray| over RGB exceeds this.",
              min=0.0, max=3.0),
        Param("solver", "str", "auto", "direct: one nested-dissection SuperLU factorisation (exact); amg: "
              "smoothed-aggregation-preconditioned BiCGStab (less memory, slow above 4 MP); auto: direct up to "
              "1.5 MP, above that solved on a 1.5 MP proxy and upsampled guided by the full-resolution L.",
              choices=("auto", "amg", "direct")),
        Param("proxy_megapixels", "float", _PROXY_MP, "solver=auto: images above this size are solved on a proxy of this "
              "size and upsampled guided by L (smaller = faster, further from the exact solve).", min=0.001, max=_PROXY_MP),
        Param("prior", "str", "none", "Automatic colorization method used as a soft prior away from scribbles, or none."),
        Param("prior_weight", "float", 0.001, "Weight of the prior against the neighbourhood term (reach ~1/sqrt(w) px).",
              min=0.0, max=1000.0),
        Param("keep_lightness", "bool", True, "Restore the input's CIELAB L (false: keep YIQ Y only, as the reference)."),
    ],
    scribbles="required",
    extra_inputs=("scribble_mask", "prior_image"),
)
def scribble(image, *, scribbles=None, scribble_mask=None, prior_image=None, space="yiq", tolerance=0.05,
             solver="auto", proxy_megapixels=_PROXY_MP, prior="none", prior_weight=0.001, keep_lightness=True):
    """Colorize a gray image from colour scribbles by optimisation (Levin et al. 2004).

    Parameters
    ----------
    image : (H, W[, 1|3|4]) ndarray
        The gray image; uint8, uint16 or float in [0, 1]. A colour image is
        used through its Rec. 601 luma. Alpha is carried through.
    scribbles : ndarray or (mask, colours) tuple
        A colour-marked copy of ``image`` (same size): every pixel whose
        colour differs from the gray by more than ``tolerance`` is a
        scribble. Or the scribble colours with ``scribble_mask``.
    scribble_mask : (H, W) array_like, optional
        Nonzero at scribbled pixels (their colours are taken from
        ``scribbles``). Lets scribbles be gray, which a marked copy cannot say.
    prior_image : ndarray, optional
        A colorized version of ``image`` whose chroma is a soft prior (as
        ``prior`` but from an array).
    space : {'yiq', 'lab'}
        Chroma propagated: I and Q with affinities on YIQ's Y (the reference),
        or CIELAB a and b with affinities on L / 100.
    tolerance : float, default 0.05
        Threshold on sum over RGB of ``|marked - gray|`` in [0, 1] units. The
        reference uses 0.01; 0.05 ignores JPEG noise in a marked copy, and
        near-neutral small differences count as noise (see
        :func:`parse_scribbles`).
    solver : {'auto', 'amg', 'direct'}
        See :func:`solve`. ``'auto'`` solves images up to 1.5 MP exactly
        (direct); larger ones are solved on an area-downscaled proxy of
        1.5 MP and the chroma upsampled guided by the full-resolution L
        (bounded time and memory; not the exact full-resolution solution,
        which ``'direct'`` or ``'amg'`` compute).
    proxy_megapixels : float, default 1.5
        With ``solver='auto'``: the size above which, and to which, the
        image is downscaled for the solve (0.001 to 1.5; the direct solve's
        memory bounds it). Smaller is faster and further from the exact
        solve, not from the truth: on 6 Kodak photos scaled to 1 MP with 1 %
        strokes, 0.25 took 1.75 s for 29.60 dB PSNR against the true colours,
        the exact solve 8.6 s for 29.48 dB.
    prior : str, default 'none'
        Name of an automatic colorization method (e.g. ``'auto'``) whose
        chroma is a soft data term: each row becomes
        ``(1 + w) x_r - sum_s w_rs x_s = w p_r``, so scribbles stay hard
        constraints and fix what the model got wrong nearby, and away from
        them the result follows the model.
    prior_weight : float, default 0.001
        ``w`` above; a scribble's influence decays over roughly
        ``1 / sqrt(w)`` pixels of uniform region.
    keep_lightness : bool, default True
        Put the input's CIELAB L back after converting from YIQ, as every
        tinct colorization does. False returns the reference's output
        (YIQ with the input's Y). Irrelevant for ``space='lab'``.

    Returns
    -------
    ndarray
        Colour image, same dtype as ``image`` (RGB, plus alpha if given).

    References
    ----------
    .. [1] A. Levin, D. Lischinski, Y. Weiss, "Colorization using
           optimization", ACM TOG 23(3), 2004.
    """
    from tinct.color.gray import rgb2lightness
    from tinct.color.lab import lab2rgb
    from tinct.pixels import output_dtype, restore

    arr = check_image(image)
    rgb_in = split_alpha(arr)[0] if arr.ndim == 3 else arr
    gray_rgb = to_float_rgb(rgb_in)
    h, w = gray_rgb.shape[:2]
    mask, colours = parse_scribbles(gray_rgb, scribbles, scribble_mask, tolerance)
    prior_ab = _prior_chroma(rgb_in, prior, prior_image, space, (h, w))
    lam = prior_weight if prior_ab is not None else 0.0
    if not mask.any() and (prior_ab is None or lam == 0.0):
        raise ParameterError(
            f"scribbles: no scribbled pixels (none differs from the gray image by more than tolerance={tolerance})"
        )

    if space == "yiq":
        luma = gray_rgb @ _RGB2YIQ[0].astype(np.float32)
    else:
        luma = rgb2lightness(gray_rgb) / np.float32(100.0)
    lightness = rgb2lightness(gray_rgb)
    del gray_rgb  # 12 bytes a pixel that the solve does not need
    known = np.zeros((h, w, 2), np.float32)
    known[mask] = _chroma(colours, space)
    proxy_pixels = float(proxy_megapixels) * 1e6
    if solver == "auto" and h * w > proxy_pixels:
        chroma = _propagate_on_proxy(luma, lightness, mask, known, prior_ab, lam, proxy_pixels)
    else:
        chroma = _propagate(luma, mask, known, prior_ab, lam, solver)

    dtype = output_dtype(arr)
    if space == "yiq":
        yiq = np.concatenate([luma[..., None], chroma], axis=2)
        rgb = np.clip(yiq @ _YIQ2RGB.T.astype(np.float32), 0.0, 1.0)
        if not keep_lightness:
            return restore(rgb, arr)
        from tinct.color.lab import rgb2lab

        lab = rgb2lab(rgb)
        lab[..., 0] = lightness
    else:
        lab = np.empty((h, w, 3), np.float32)
        lab[..., 0] = lightness
        lab[..., 1:] = chroma
    # gamut="chroma": out-of-gamut colours lose chroma, never lightness, so L stays the input's.
    return restore(lab2rgb(lab, gamut="chroma", dtype=dtype), arr)
