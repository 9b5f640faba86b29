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
the system is solved once for both chroma channels, by one of:

* ``'direct'`` (what ``solver='auto'`` uses up to 0.5 MP): :func:`solve_grid`,
  a multifrontal LU of the full-grid system (scribbled pixels are identity
  rows) in geometric nested-dissection order, written for this 3 x 3 stencil
  with Numba (dense fronts; BLAS for the large ones; independent subtrees in
  parallel threads). Exact: at 1 MP its chroma differs from SuperLU's by at
  most 2.5e-13 (RMS 1.4e-14), and the 8-bit output images are identical.
* ``'superlu'``: SciPy's SuperLU on the CSR system of the unscribbled pixels
  (:func:`build_system`, :func:`solve`) in the same nested-dissection order
  without pivoting; exact too, but slower and larger (below).

:func:`build_system` computes the affinities and writes the CSR arrays in two
Numba passes (bands of rows in threads; about 0.1 s at 1 MP against 1 s for
the NumPy version it replaced, with bit-identical entries).

``solver='auto'`` solves exactly (direct) up to ``proxy_megapixels`` (0.5 MP
by default, at most 1.5). Above that it solves the same system on an
area-downscaled proxy of that size (a proxy pixel covering any scribble is
scribbled with their mean chroma) and brings the chroma back by joint
bilateral upsampling guided by the full-resolution L, keeping the scribbled
pixels' own colours, because the full-size direct solve needs about 0.8 GB
per megapixel (3.15 GB at 4 MP) and O(N^1.5) time. The proxy is as close to
the true colours as the exact solve: on 6 Kodak photos scaled to 1 MP with
1 % strokes (``benchmarks/scribble.py --proxy --limit 6``) mean PSNR against
the truth was 29.48 dB exact, 29.59 dB with a 0.5 MP proxy and 29.60 dB with
0.25 MP, at a third of the time; on a test image the proxy's chroma is within
a median 1.1 a/b units of the exact solve. ``'direct'`` and ``'superlu'``
always solve at full resolution.

No iterative solver is offered, because the system is hard for them: in flat
areas the reference's ``c_r`` floor turns every 8-bit quantisation step into a
near-cut, so the matrix is badly conditioned and a relative residual of 1e-6
is needed for chroma errors around 3e-4. Smoothed-aggregation AMG [2]_ with
BiCGStab to that residual (kodim05 scaled, 1 % strokes) took 7.4 CPU s at
0.25 MP and 39 CPU s at 1 MP (PyAMG's ``smoothed_aggregation_solver``, 46-83
iterations per channel) against 1.5 and 3.5 s for ``'direct'``, with more
memory, and a hierarchy tuned for this system still needed 101 iterations at
4 MP and did not converge within 400 at 12 MP. The same near-cuts defeat a
cascadic solve (the proxy's solution upsampled, then Gauss-Seidel at full
size): from the 0.25 MP proxy's solution (RMS 9e-3 from the exact one at
1 MP) 200 symmetric sweeps (5 s) only reach RMS 9e-3 / max 6e-2.

Whole :func:`scribble` calls (``benchmarks/scribble.py --speed`` and
``--targets``: kodim05 scaled, 1 % strokes, a fresh process per run, 2 cores
shared with other work): CPU seconds (all threads) of a first call / of the
same call repeated in that process, and the process's peak RSS:

* 0.25 MP, auto (= direct): 0.8-0.9 s, 0.34 GB.
* 1 MP, auto (0.5 MP proxy): 1.6 / 1.0-1.1 s, 0.51 GB (a marked copy as input:
  1.57 / 1.13 s, 0.49 GB).
* 1 MP, direct: 2.8-3.0 / 1.9-2.0 s, 0.82-0.84 GB.
* 4 MP, auto (0.5 MP proxy): 2.0 s, 0.54 GB.
* 12 MP, auto (0.5 MP proxy), a marked copy as input: 4.8 s, 0.62 GB.

About 0.4 CPU s of a first call is Numba's (its import and loading the cached
machine code of the kernels, once per process), and the first touch of fresh
memory is slow on the virtual machine measured. Before the right-hand side
moved into the fronts, the 0.5 MP default proxy and banded colour conversion,
the same calls took 2.9-3.2 / 1.9-2.9 CPU s at 1 MP (exact, 0.93 GB) and
9.4 CPU s, 1.57 GB at 12 MP (1.5 MP proxy).

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
.. [4] I. S. Duff, J. K. Reid, "The multifrontal solution of indefinite
       sparse symmetric linear equations", ACM TOMS 9(3), 1983.
"""

from __future__ import annotations

import numpy as np

from tinct._threads import available_cpus, available_memory, over_ranges
from tinct.errors import ParameterError
from tinct.pixels import check_image, split_alpha, to_float_rgb
from tinct.registry import Input, Param, register

# NTSC (YIQ) as MATLAB's rgb2ntsc / ntsc2rgb, which the reference uses.
_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)

_DIRECT_MAX = 1_500_000  # scribble(solver='auto'): solve_grid up to here (~1.5 GB of factors), a proxy this size above
_PROXY_MAX = _DIRECT_MAX / 1e6  # scribble(solver='auto'): the largest proxy is the largest direct solve
_PROXY_MP = 0.5  # the default proxy: as close to true colours as the exact solve (module docstring), 1/3 of its time


def affinity_weights(luma: np.ndarray) -> np.ndarray:
    """Normalised 3 x 3 affinities of the reference implementation (one Numba pass over the pixels).

    Parameters
    ----------
    luma : (H, W) ndarray
        Intensity in [0, 1].

    Returns
    -------
    w : (8, H, W) float32 ndarray
        ``w[k, y, x]`` is the weight of neighbour k of pixel (y, x), the 3 x 3
        window's eight neighbours in raster order, (-1, -1) to (1, 1); 0 for
        neighbours outside the image. Each pixel's weights sum to 1.
    """
    from tinct.colorize import _scribble_kernels as K

    y = np.ascontiguousarray(luma, dtype=np.float64)
    out = np.empty((8,) + y.shape, np.float32)
    _in_bands(y.shape, lambda r0, r1: K.weight_planes(y, out, r0, r1))
    return out


def _bands(shape, pixels: int = 1_000_000):
    """(r0, r1) row ranges of about ``pixels`` each covering an image of ``shape``: full-size float
    temporaries of a 12 MP image would be 48 MB a channel."""
    h, w = shape[:2]
    step = max(1, pixels // max(1, w))
    return [(r0, min(h, r0 + step)) for r0 in range(0, h, step)]


def _in_bands(shape, kernel) -> None:
    """Run ``kernel(r0, r1)`` over bands of rows covering ``shape``, in threads (the kernels release the GIL)."""
    h, w = shape
    over_ranges(kernel, h, min_size=-(-65536 // max(1, w)))  # bands of at least 64 k pixels


def build_system(luma, fixed, prior_weight: float = 0.0):
    """The linear system of the unknown (unscribbled) pixels.

    Row r of the full system reads ``(1 + lam) x_r - sum_s w_rs x_s = lam p_r``
    (``lam = prior_weight``, ``p`` a prior chroma; ``lam = 0`` is the
    reference). Scribbled pixels are fixed, so their columns move to the
    right-hand side. One Numba pass counts the entries of every image row,
    a second computes the affinities (as :func:`affinity_weights`) and writes
    the CSR arrays, bands of rows in threads: no weight planes, COO or
    per-row temporaries (about 0.1 s at 1 MP, against 1 s for the NumPy
    version; the same entries to the bit).

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

    from tinct.colorize import _scribble_kernels as K

    y = np.ascontiguousarray(luma, dtype=np.float64)
    fixed = np.ascontiguousarray(fixed, dtype=bool)
    h, w = fixed.shape
    row_nnz, row_free, row_cpl = (np.empty(h, np.int64) for _ in range(3))
    _in_bands((h, w), lambda r0, r1: K.row_counts(fixed, row_nnz, row_free, row_cpl, r0, r1))
    starts = [np.concatenate([[0], np.cumsum(c)]) for c in (row_nnz, row_free, row_cpl)]
    n, nnz, ncpl = int(starts[1][-1]), int(starts[0][-1]), int(starts[2][-1])
    nf = h * w - n
    itype = np.int32 if max(nnz, h * w) < 2**31 - 1 else np.int64
    flat = fixed.ravel()
    index = np.where(flat, np.cumsum(flat, dtype=itype), np.cumsum(~flat, dtype=itype)).reshape(h, w)
    index -= 1  # unknown number of a free pixel, scribble number of a fixed one
    indptr = np.empty(n + 1, itype)
    indices = np.empty(nnz, itype)
    data = np.empty(nnz, np.float64)
    bptr = np.empty(n + 1, itype)
    bcols = np.empty(ncpl, itype)
    bvals = np.empty(ncpl, np.float64)
    _in_bands((h, w), lambda r0, r1: K.fill_system(y, fixed, index, starts[0], starts[1], starts[2],
                                                     1.0 + float(prior_weight), indptr, indices, data, bptr, bcols,
                                                     bvals, r0, r1))
    indptr[n], bptr[n] = nnz, ncpl
    A = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    B = sp.csr_matrix((bvals, bcols, bptr), shape=(n, nf))

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


def _check_memory(need: float, pixels: int) -> None:
    """Refuse a full-size exact solve that would need more than the available memory, before allocating it."""
    free = available_memory()
    if free is not None and need > free:
        raise ParameterError(f"solver: the exact solve of {pixels / 1e6:.1f} MP needs about {need / 2**30:.1f} GB, "
                             f"{free / 2**30:.1f} GB is available; use solver='auto' (a proxy solve)")


def solve_grid(luma, fixed, rhs, prior_weight: float = 0.0, leaf: int = 16, threads: int | None = None) -> np.ndarray:
    """Exact solve of the scribble system by multifrontal LU in geometric nested-dissection order.

    Solves the full-grid system (one row per pixel: the identity at scribbled
    pixels, ``(1 + lam) x_r - sum_s w_rs x_s`` elsewhere, the same rows as
    :func:`build_system`) for every channel of ``rhs`` at once. The grid is
    cut recursively into halves by one-pixel separator lines across the
    longer side (:func:`nested_dissection`'s tree, leaves of at most ``leaf``
    pixels); each node of the tree eliminates its separator (a leaf its whole
    rectangle) from a dense front holding that separator and the ring of
    pixels around the node's rectangle (all of them on ancestors'
    separators), and passes the Schur complement on the ring to its parent.
    The right-hand side is carried in the fronts as extra columns, so only
    ``F11^-1 F12`` of each front is kept for the back substitution (about
    0.4 GB at 1 MP), updates pass to the parent on a stack (Duff and Reid 1983,
    module reference [4]), and each node writes the solution only at its own pixels. Small
    fronts use Numba loops, large ones LAPACK's inverse and BLAS (one BLAS
    thread: a second one spinning beside the workers cost 0.6 CPU s at 1 MP);
    the subtrees below depth 4 run in parallel threads on one shared solution
    array, and so do the nodes of each level above. No pivoting is needed: the matrix is a nonsingular
    M-matrix (rows weakly diagonally dominant, every pixel linked to a
    scribble through positive weights), and so is every Schur complement.
    Entries of the fronts below 1e-30 are dropped (the system's entries are
    O(1)): products of such numbers are subnormal and made the dense
    kernels several times slower.

    Measured at 1 MP (kodim05 scaled, 1 % strokes, 2 loaded cores): about
    1.9-2.0 CPU s for a whole ``scribble(solver='direct')`` call in a warm
    process, 2.8-2.9 s for a first call (0.82 GB peak), against 9-10 CPU s
    for SuperLU in the same order; the two solutions differ by at most
    2.5e-13. About 39 GFlop at 1 MP, O(N^1.5).

    Parameters
    ----------
    luma, fixed, prior_weight
        As for :func:`build_system`.
    rhs : (H, W, C) ndarray
        The scribbled values at fixed pixels; ``lam * p`` (the prior term) or 0 elsewhere.
    leaf : int
        Largest rectangle (pixels) that is not cut further.
    threads : int, optional
        Threads for the independent subtrees (default: the CPUs this process may use, at most 8).

    Returns
    -------
    (H, W, C) float64 ndarray
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from tinct.colorize import _scribble_kernels as K
    from tinct.colorize import _scribble_mf as M

    fixed = np.ascontiguousarray(fixed, dtype=bool)
    h, w = fixed.shape
    rect, ax, cut, children, parent, depth = K.nd_tree(h, w, int(leaf))
    ni, nb = K.front_sizes(rect, ax, cut, h, w)
    off_w = np.zeros(len(ni) + 1, np.int64)
    np.cumsum(ni * nb, out=off_w[1:])
    if threads is None:
        threads = available_cpus()
        if h * w < 65536:
            threads = 1
    threads = max(1, min(int(threads), 8))
    # Peak use: the kept W blocks, the fronts and stacks, and about 100 bytes a pixel (weights, x, the caller's
    # right-hand side, scratch): 0.67 GB measured at 1 MP (the whole process 0.82 GB), estimated 0.67.
    _check_memory(1.3 * 8 * int(off_w[-1]) + 150 * h * w, h * w)
    wt = affinity_weights(luma)  # (8, h, w) float32: the rows of the free pixels, as build_system's
    x = np.array(np.asarray(rhs, dtype=np.float64).reshape(h * w, -1), order="C", copy=True)
    C = x.shape[1]
    wbuf = np.empty(int(off_w[-1]))  # W = F11^-1 F12 of every node, for the back substitution
    diag = 1.0 + float(prior_weight)
    none = np.empty((0, C))
    scratch = [np.full(h * w, -1, np.int32) for _ in range(threads)]

    def eliminate(lo, hi, u0, u1, gl):
        return M.eliminate(lo, hi, rect, ax, cut, children, ni, nb, off_w, wt, fixed, diag, wbuf, x, u0, u1, gl)

    size = np.ones(len(ni), np.int64)  # nodes in each subtree
    for v in range(len(ni)):  # postorder: children before parents
        if parent[v] >= 0:
            size[parent[v]] += size[v]
    cost = ni.astype(np.float64) ** 2 * (ni + 2 * nb) + 2.0 * nb * nb * ni + 1e5  # flops, and ~5 us a node
    total = np.cumsum(np.concatenate([[0.0], cost]))

    def balance(items, weights):
        groups: list[list] = [[] for _ in range(min(threads, len(items)))]
        load = np.zeros(len(groups))
        for k in np.argsort(-np.asarray(weights), kind="stable"):
            g = int(np.argmin(load))
            groups[g].append(items[k])
            load[g] += weights[k]
        return groups

    def in_threads(groups, work, blas):
        if not groups:
            return
        with threadpool_limits(blas, user_api="blas"):
            if len(groups) == 1:
                work(0, groups[0])
                return
            with ThreadPoolExecutor(len(groups)) as pool:
                list(pool.map(work, range(len(groups)), groups))

    # Subtrees rooted at `cut_depth` go to the threads, balanced by their cost, each eliminated in one call;
    # then the levels above, each level's nodes (independent of each other) spread over the threads. Every
    # node writes x only at its own pixels, so all share one x.
    cut_depth = 0 if threads == 1 else int(np.ceil(np.log2(threads))) + 3
    updates: dict[int, np.ndarray] = {}
    roots = [int(r) for r in np.flatnonzero(depth == cut_depth)]

    def subtrees(g, group):
        for r in group:
            updates[r] = eliminate(r - size[r] + 1, r + 1, none, none, scratch[g])

    # One BLAS thread per worker: BLAS threads spinning beside the workers were slower.
    in_threads(balance(roots, [total[r + 1] - total[r + 1 - size[r]] for r in roots]), subtrees, 1)
    for d in range(cut_depth - 1, -1, -1):
        level = [int(v) for v in np.flatnonzero(depth == d)]

        def nodes(g, group):
            for v in group:
                c0, c1 = children[v]
                updates[v] = eliminate(v, v + 1, updates.pop(c0) if c0 >= 0 else none,
                                       updates.pop(c1) if c1 >= 0 else none, scratch[g])

        groups = balance(level, list(cost[level]))
        in_threads(groups, nodes, 1)
    scratch.clear()

    def back(nodes):
        M.back_substitute(np.asarray(nodes[::-1], np.int64), rect, ax, cut, ni, nb, off_w, wbuf, x, w)

    back(np.flatnonzero(depth < cut_depth) if threads > 1 else np.arange(len(ni)))
    if threads > 1:
        spans = [np.arange(r - size[r] + 1, r + 1) for r in roots]
        groups = [np.concatenate(g) for g in balance(spans, [cost[sp].sum() for sp in spans])]
        with ThreadPoolExecutor(len(groups)) as pool:
            list(pool.map(back, groups))
    return x.reshape(np.shape(rhs))


def solve(A, rhs: np.ndarray, fixed: np.ndarray | None = None) -> np.ndarray:
    """Solve ``A X = rhs`` for every column of ``rhs`` with one SuperLU factorisation.

    For a whole image :func:`solve_grid` computes the same solution faster;
    :func:`scribble` uses this function for ``solver='superlu'``.

    Parameters
    ----------
    A : scipy.sparse matrix
        Square, non-singular and row diagonally dominant (as :func:`build_system`
        makes it), so LU needs no pivoting.
    rhs : (n, C) ndarray
    fixed : (H, W) bool ndarray, optional
        The scribble mask ``A`` was built with (its unknowns are the other
        pixels in raster order); enables the nested-dissection order, without
        pivoting. Without it, SuperLU's own order and pivoting.

    Returns
    -------
    (n, C) float64 ndarray
    """
    import scipy.sparse.linalg as sla

    if A.shape[0] == 0:
        return np.zeros_like(rhs)
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


def parse_scribbles(image_rgb: np.ndarray, scribbles, scribble_mask=None, tolerance: float = 0.05):
    """Turn user scribbles into a mask and the scribbled colours.

    Parameters
    ----------
    image_rgb : (H, W[, 3]) ndarray
        The gray image (any dtype :func:`tinct.pixels.to_float_rgb` takes).
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
    marked = split_alpha(marked)[0] if marked.ndim == 3 else marked
    if scribble_mask is not None:
        mask = check_mask(scribble_mask, image_rgb.shape[:2], "scribble_mask")
    else:
        mask = np.empty(image_rgb.shape[:2], bool)
        for r0, r1 in _bands(mask.shape):  # in bands: full-size float copies would be 12 bytes a pixel each
            marked_rgb = to_float_rgb(marked[r0:r1], "scribbles")
            diff = np.abs(marked_rgb - to_float_rgb(image_rgb[r0:r1])).sum(axis=2)
            neutral_noise = (np.ptp(marked_rgb, axis=2) <= tolerance / 2) & (diff <= 4 * tolerance)
            mask[r0:r1] = (diff > tolerance) & ~neutral_noise
    picked = marked[mask][:, None]  # (n, 1[, C]): the scribbled pixels as a one-column image
    return mask, (to_float_rgb(picked, "scribbles")[:, 0] if len(picked) else np.zeros((0, 3), np.float32))


def _chroma(rgb: np.ndarray, space: str) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> (..., 2) chroma: I, Q or a, b."""
    if space == "yiq":
        return (rgb.astype(np.float64) @ _RGB2YIQ[1:].T).astype(np.float32)
    from tinct.color.lab import rgb2lab

    return rgb2lab(rgb)[..., 1:]


def stroke_hints(mask: np.ndarray, colours: np.ndarray, count: int = 256) -> np.ndarray:
    """Points spread along the strokes, as colour hints for a CNN prior.

    The image is cut into square cells, the smallest (growing by 1.25x from 1 px) in which the stroke
    pixels occupy at most ``count`` cells, and each occupied cell gives the middle one of its stroke
    pixels (raster order) with that pixel's own colour. So a long stroke gives points all along it and
    a short one at least one, and a blob gives no more points than a line through it.

    Parameters
    ----------
    mask : (H, W) bool ndarray
        Scribbled pixels.
    colours : (n, 3) ndarray
        sRGB in [0, 1] of the scribbled pixels in raster order (as :func:`parse_scribbles` returns them).
    count : int
        Most points returned; all stroke pixels when there are no more than this.

    Returns
    -------
    (N, 6) float64 ndarray
        ``x, y, r, g, b, radius`` (r, g, b in 0..255, radius 0), the form of
        :func:`tinct.colorize.hints.parse_hints`.
    """
    ys, xs = np.nonzero(mask)
    if count <= 0 or len(ys) == 0:
        return np.zeros((0, 6))
    if len(ys) <= count:
        pick = np.arange(len(ys))
    else:
        side = 1.0
        while True:
            cell = (ys // side).astype(np.int64) * (int(mask.shape[1] // side) + 1) + (xs // side).astype(np.int64)
            order = np.argsort(cell, kind="stable")
            _, start, size = np.unique(cell[order], return_index=True, return_counts=True)
            if len(start) <= count:
                break
            side *= 1.25
        pick = order[start + size // 2]
    return np.column_stack([xs[pick], ys[pick], np.asarray(colours, np.float64)[pick] * 255.0,
                            np.zeros(len(pick))])


def add_hints(mask: np.ndarray, colours: np.ndarray, hints):
    """Colour hints as scribbles: each marks the pixels within its radius (at least its own) with its colour.

    Where a hint meets a stroke the hint wins, as the later of two overlapping hints does for the CNN
    methods (:func:`tinct.colorize.hints.rasterize`).

    Parameters
    ----------
    mask : (H, W) bool ndarray
        Scribbled pixels.
    colours : (n, 3) ndarray
        sRGB in [0, 1] of the scribbled pixels in raster order.
    hints : (N, 6) ndarray or any form :func:`tinct.colorize.hints.parse_hints` takes
        Points ``x, y, r, g, b, radius`` in pixels of the image.

    Returns
    -------
    mask, colours
        As given, with the hints' pixels added.
    """
    from tinct.colorize.hints import check_hints, parse_hints

    points = hints if isinstance(hints, np.ndarray) and hints.ndim == 2 and hints.shape[1] == 6 else parse_hints(hints)
    check_hints(points, mask.shape)
    h, w = mask.shape
    cx, cy = np.rint(points[:, 0]).astype(np.int64), np.rint(points[:, 1]).astype(np.int64)
    idx, rgb = [cy * w + cx], [points[:, 2:5] / 255.0]
    for i in np.flatnonzero(points[:, 5] >= 1):  # discs: few, and each is small next to the image
        r = int(points[i, 5])
        yy, xx = np.mgrid[max(cy[i] - r, 0) : min(cy[i] + r + 1, h), max(cx[i] - r, 0) : min(cx[i] + r + 1, w)]
        inside = (yy - cy[i]) ** 2 + (xx - cx[i]) ** 2 <= points[i, 5] ** 2
        idx.append((yy * w + xx)[inside])
        rgb.append(np.repeat(points[i : i + 1, 2:5] / 255.0, int(inside.sum()), axis=0))
    # Strokes first, then the hints in order: the last occurrence of a pixel is the one kept.
    flat = np.concatenate([np.flatnonzero(mask)] + idx)
    every = np.concatenate([np.asarray(colours, np.float64).reshape(-1, 3)] + rgb)
    kept, last = np.unique(flat[::-1], return_index=True)
    out = np.zeros(h * w, bool)
    out[kept] = True
    return out.reshape(h, w), every[::-1][last].astype(np.float32)


def _prior_chroma(image, prior: str, prior_image, space: str, shape, hints=None) -> np.ndarray | None:
    """Chroma of the soft prior: ``prior_image``'s, or the ``prior`` method's (given ``hints`` if it takes them)."""
    if prior_image is not None:
        p = check_image(prior_image, "prior_image")
        if p.shape[:2] != tuple(shape):
            raise ParameterError(f"prior_image: shape {p.shape[:2]} does not match the image's {tuple(shape)}")
        return _chroma(to_float_rgb(split_alpha(p)[0] if p.ndim == 3 else p, "prior_image"), space)
    if prior == "none":
        return None
    from tinct.registry import get_method

    method = get_method(prior, "colorize")
    if any(i.required for i in method.inputs):
        raise ParameterError(f"prior: method {prior!r} needs a reference or scribbles; use an automatic method")
    takes_hints = next((i.name for i in method.inputs if i.kind == "hints"), None)
    if takes_hints and hints is not None and len(hints):
        return _chroma(to_float_rgb(method(image, **{takes_hints: hints})), space)
    return _chroma(to_float_rgb(method(image)), space)


def _propagate(luma, mask, values, prior_ab, lam, solver) -> np.ndarray:
    """(H, W, 2) float32 chroma: ``values`` (n, 2) at the scribbled pixels, the Levin system's solution elsewhere."""
    if solver in ("auto", "direct"):
        rhs = np.zeros(mask.shape + (2,))
        if prior_ab is not None and lam > 0:
            rhs[~mask] = lam * prior_ab[~mask].astype(np.float64)
        rhs[mask] = values
        chroma = solve_grid(luma, mask, rhs, lam).astype(np.float32)
        chroma[mask] = values
        return chroma
    if solver != "superlu":
        raise ParameterError(f"solver: expected 'auto', 'direct' or 'superlu', got {solver!r}")
    _check_memory(2100 * luma.size, luma.size)  # SuperLU's factors: 2.06 GB measured at 1 MP
    chroma = np.zeros(mask.shape + (2,), np.float32)
    chroma[mask] = values
    A, coupling = build_system(luma, mask, lam)
    rhs = coupling(chroma)
    del coupling
    free = ~mask
    if prior_ab is not None and lam > 0:
        rhs += lam * prior_ab[free]
    x = solve(A, rhs, fixed=mask)
    del A, rhs
    chroma[free] = x
    return chroma


def _propagate_on_proxy(luma, mask, values, prior_ab, lam, proxy_pixels: float, lightness) -> np.ndarray:
    """Chroma of a large image from the exact solve on an area-downscaled proxy of ``proxy_pixels``.

    Each proxy pixel that covers any scribbled pixel is scribbled with their mean
    chroma; the proxy's chroma is brought back to full size by joint bilateral
    upsampling guided by the full-resolution L (as the CNN colorizers do), and
    the scribbled pixels keep their own colours exactly. Time and memory stay
    those of the proxy's direct solve plus a few full-size arrays, where the
    full-size exact solve needs about 0.8 GB per megapixel. ``lightness()``
    gives the full-size L, made only once the solve is done.
    """
    from tinct.colorize.upsample import joint_bilateral_upsample, resize

    h, w = mask.shape
    scale = (proxy_pixels / (h * w)) ** 0.5
    size = (max(1, int(h * scale)), max(1, int(w * scale)))
    coverage = resize(mask.astype(np.float32), size)
    mask_p = coverage > 0
    known = np.zeros((h, w, 2), np.float32)
    known[mask] = values
    known_p = resize(known, size)[mask_p] / coverage[mask_p][:, None]  # mean over the scribbled part
    del known
    prior_p = None if prior_ab is None else resize(prior_ab, size)
    chroma_p = _propagate(resize(luma, size), mask_p, known_p, prior_p, lam, "direct")
    del prior_p
    chroma = joint_bilateral_upsample(chroma_p, lightness())
    chroma[mask] = values
    return chroma


def _luma_and_lightness(rgb_in, space: str, which: str) -> np.ndarray:
    """Full-size float32 luma (YIQ's Y, or L / 100 for ``space='lab'``) or CIELAB L, made band by band."""
    from tinct.color.gray import rgb2lightness

    out = np.empty(rgb_in.shape[:2], np.float32)
    y = _RGB2YIQ[0].astype(np.float32)
    for r0, r1 in _bands(out.shape):
        rgb = to_float_rgb(rgb_in[r0:r1])
        if which == "luma" and space == "yiq":
            out[r0:r1] = rgb @ y
        else:
            out[r0:r1] = rgb2lightness(rgb) / np.float32(100.0 if which == "luma" else 1.0)
    return out


@register(
    "scribble",
    kind="colorize",
    summary="Propagate colour scribbles by luminance affinities (Levin, Lischinski & Weiss 2004).",
    params=[
        Param("space", "str", "yiq", "Chroma space: yiq (the reference) or lab.", choices=("yiq", "lab")),
        Param("tolerance", "float", 0.05, "A marked pixel is a scribble when sum |marked - gray| over RGB exceeds this.",
              min=0.0, max=3.0),
        Param("solver", "str", "auto", "direct: multifrontal LU in nested-dissection order (exact, ~1 GB per MP); "
              "superlu: SciPy's SuperLU in the same order (exact, slower); auto: direct up to proxy_megapixels, "
              "above that solved on a proxy of that size and upsampled guided by the full-resolution L.",
              choices=("auto", "direct", "superlu")),
        Param("proxy_megapixels", "float", _PROXY_MP, "solver=auto: images above this size are solved on a proxy of this "
              "size and upsampled guided by L (smaller = faster, further from the exact solve; 1.5 = exact up to "
              "1.5 MP).", min=0.001, max=_PROXY_MAX),
        Param("prior", "str", "none", "Automatic colorization method used as a soft prior away from scribbles: none, "
              "auto, eccv16, siggraph17 or patchdb (any colorize method that needs no reference)."),
        Param("prior_hints", "int", 256, "With a prior that takes colour hints (auto, siggraph17): points spread "
              "along the strokes given to it as hints, so the prior already agrees with them (0: none).",
              min=0, max=10_000),
        Param("prior_weight", "float", 0.001, "Weight of the prior against the neighbourhood term (reach ~1/sqrt(w) px).",
              min=0.0, max=1000.0),
        Param("keep_lightness", "bool", True, "Restore the input's CIELAB L (false: keep YIQ Y only, as the reference)."),
    ],
    inputs=[
        Input("scribbles", "scribbles", required=True),
        Input("scribble_mask", "mask", help="nonzero where the scribbles image holds a stroke (else: where it differs "
              "from the gray input)"),
        Input("prior_image", "image", help="a colour image of the input's size whose chroma is the soft prior"),
        Input("hints", "hints", help="colour points (x, y, color[, radius]): fixed like scribbles, and given to a CNN "
              "prior with the strokes"),
    ],
)
def scribble(image, *, scribbles=None, scribble_mask=None, prior_image=None, hints=None, space="yiq", tolerance=0.05,
             solver="auto", proxy_megapixels=_PROXY_MP, prior="none", prior_hints=256, prior_weight=0.001,
             keep_lightness=True):
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
    hints : list or array, optional
        Colour points in any form :func:`tinct.colorize.hints.parse_hints`
        takes (``[(x, y, "#rrggbb"), ...]``, an (N, 5) or (N, 6) array).
        Each fixes the pixels within its radius (its own at least) like a
        scribble, winning over a stroke it meets (:func:`add_hints`); a prior
        that takes hints gets them all, after the points of the strokes.
    space : {'yiq', 'lab'}
        Chroma propagated: I and Q with affinities on YIQ's Y (the reference),
        or CIELAB a and b with affinities on L / 100.
    tolerance : float, default 0.05
        Threshold on sum over RGB of ``|marked - gray|`` in [0, 1] units. The
        reference uses 0.01; 0.05 ignores JPEG noise in a marked copy, and
        near-neutral small differences count as noise (see
        :func:`parse_scribbles`).
    solver : {'auto', 'direct', 'superlu'}
        ``'direct'``: the exact solve by :func:`solve_grid` (multifrontal LU,
        about 0.8 GB of memory per megapixel). ``'superlu'``: the same
        solution through SciPy's SuperLU (:func:`solve`), about 4.5 times
        slower at 1 MP. ``'auto'`` solves images up to ``proxy_megapixels``
        exactly (``'direct'``); larger ones are solved on an area-downscaled
        proxy of that size and the chroma upsampled guided by the
        full-resolution L (bounded time and memory; not the exact
        full-resolution solution, which the other solvers compute).
    proxy_megapixels : float, default 0.5
        With ``solver='auto'``: the size above which, and to which, the
        image is downscaled for the solve (0.001 to 1.5; the direct solve's
        memory bounds it). Smaller is faster and further from the exact
        solve, not from the truth: on 6 Kodak photos scaled to 1 MP with 1 %
        strokes, mean PSNR against the true colours was 29.48 dB for the
        exact solve, 29.59 dB for 0.5 and 29.60 dB for 0.25. 1.5 gives the
        exact solve up to 1.5 MP (at 1 MP about 2.5 CPU s against 1.2).
    prior : str, default 'none'
        Name of an automatic colorization method (e.g. ``'auto'``) whose
        chroma is a soft data term: each row becomes
        ``(1 + w) x_r - sum_s w_rs x_s = w p_r``, so scribbles stay hard
        constraints and fix what the model got wrong nearby, and away from
        them the result follows the model. A method that takes colour hints
        (``auto``, ``siggraph17``) also gets the strokes as hints (``prior_hints``),
        so the network itself spreads their colours along the image's structure
        before the solve does.
    prior_hints : int, default 256
        With such a prior: at most this many points spread along the strokes
        (:func:`stroke_hints`), each with its stroke pixel's colour; 0 gives the
        network no hints (the automatic result as the prior).
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
    from tinct.color.lab import lab2rgb, rgb2lab
    from tinct.pixels import from_float, output_dtype, restore

    arr = check_image(image)
    rgb_in = split_alpha(arr)[0] if arr.ndim == 3 else arr
    h, w = rgb_in.shape[:2]
    mask, colours = parse_scribbles(rgb_in, scribbles, scribble_mask, tolerance)
    net_hints = stroke_hints(mask, colours, prior_hints) if prior != "none" and prior_image is None else None
    if hints is not None:
        mask, colours = add_hints(mask, colours, hints)
        points = hints if isinstance(hints, np.ndarray) and hints.ndim == 2 and hints.shape[1] == 6 else None
        if net_hints is not None:
            from tinct.colorize.hints import parse_hints

            net_hints = np.concatenate([net_hints, parse_hints(hints) if points is None else points])
    prior_ab = _prior_chroma(rgb_in, prior, prior_image, space, (h, w), net_hints)
    lam = prior_weight if prior_ab is not None else 0.0
    if not mask.any() and (prior_ab is None or lam == 0.0):
        raise ParameterError(
            f"scribbles: no scribbled pixels (none differs from the gray image by more than tolerance={tolerance})"
        )
    values = _chroma(colours, space).reshape(-1, 2)
    del colours
    # Only the luma and the mask are held at full size during the solve; L is made after it.
    luma = _luma_and_lightness(rgb_in, space, "luma")
    proxy_pixels = float(proxy_megapixels) * 1e6
    if solver == "auto" and h * w > proxy_pixels:
        held = []
        chroma = _propagate_on_proxy(luma, mask, values, prior_ab, lam, proxy_pixels,
                                     lambda: held.append(_luma_and_lightness(rgb_in, space, "L")) or held[0])
        lightness = held[0]
    else:
        chroma = _propagate(luma, mask, values, prior_ab, lam, solver)
        lightness = _luma_and_lightness(rgb_in, space, "L") if space == "yiq" else luma * np.float32(100.0)
    del prior_ab, mask

    dtype = output_dtype(arr)
    out = np.empty((h, w, 3), dtype)
    yiq2rgb = _YIQ2RGB.T.astype(np.float32)
    for r0, r1 in _bands((h, w)):  # in bands: each float temporary would be 12 bytes a pixel at full size
        if space == "yiq":
            yiq = np.concatenate([luma[r0:r1, :, None], chroma[r0:r1]], axis=2)
            rgb = np.clip(yiq @ yiq2rgb, 0.0, 1.0)
            if not keep_lightness:
                out[r0:r1] = from_float(rgb, dtype)
                continue
            lab = rgb2lab(rgb)
            lab[..., 0] = lightness[r0:r1]
        else:
            lab = np.empty((r1 - r0, w, 3), np.float32)
            lab[..., 0] = lightness[r0:r1]
            lab[..., 1:] = chroma[r0:r1]
        # gamut="chroma": out-of-gamut colours lose chroma, never lightness, so L stays the input's.
        out[r0:r1] = lab2rgb(lab, gamut="chroma", dtype=dtype)
    return restore(out, arr)
