"""Numba kernels of :mod:`tinct.colorize.scribble`: affinities, the CSR system, the dissection tree.

Kept apart so that importing :mod:`tinct.colorize.scribble` (done by the method registry) does not import numba.
The arithmetic of the affinities follows the NumPy formulation of the reference operation by operation
(sums in neighbour order, ``x * x`` for squares), so the weights agree with it to the last float32 bit but
for the rare case where ``exp`` rounds differently by one float64 ulp.

All kernels are serial and release the GIL: callers split the rows into bands and run them in Python threads
(no Numba threading layer, so they are safe to call from several threads at once and after a fork).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The 3 x 3 window in raster order without its centre, which sits between 3 and 4 (so CSR columns come out sorted).
_DY = np.array([-1, -1, -1, 0, 0, 1, 1, 1], np.int64)
_DX = np.array([-1, 0, 1, -1, 1, -1, 0, 1], np.int64)
_LN_001 = float(np.log(0.01))
_C_MIN = 2e-6


@njit(cache=True, inline="always")
def _pixel_weights(y, i, j, wk):
    """Normalised weights of the 8 neighbours of pixel (i, j) into ``wk`` (float64[8]); 0 outside the image."""
    h, w = y.shape
    t = y[i, j]
    s = 0.0
    cnt = 1.0
    for k in range(8):
        ii = i + _DY[k]
        jj = j + _DX[k]
        if ii >= 0 and ii < h and jj >= 0 and jj < w:
            s += y[ii, jj]
            cnt += 1.0
    mean = (s + t) / cnt
    sq = 0.0
    mgv = np.inf
    for k in range(8):
        ii = i + _DY[k]
        jj = j + _DX[k]
        if ii >= 0 and ii < h and jj >= 0 and jj < w:
            v = y[ii, jj]
            e = v - mean
            sq += e * e
            d = v - t
            d2 = d * d
            wk[k] = d2
            if d2 < mgv:
                mgv = d2
        else:
            wk[k] = np.inf
    e = t - mean
    var = (sq + e * e) / cnt
    c = 0.6 * var
    if mgv < np.inf:
        lo = -mgv / _LN_001
        if lo > c:
            c = lo
    if c < _C_MIN:
        c = _C_MIN
    total = 0.0
    for k in range(8):
        if wk[k] < np.inf:
            wk[k] = np.exp(-wk[k] / c)
        else:
            wk[k] = 0.0
        total += wk[k]
    if total == 0.0:
        total = 1.0
    for k in range(8):
        wk[k] = np.float32(wk[k] / total)


@njit(cache=True, nogil=True)
def weight_planes(y, out, r0, r1):
    """``out[k, i, j]``: float32 weight of neighbour k of pixel (i, j) of the float64 luma ``y``, rows r0 to r1."""
    h, w = y.shape
    wk = np.empty(8)
    for i in range(r0, r1):
        for j in range(w):
            _pixel_weights(y, i, j, wk)
            for k in range(8):
                out[k, i, j] = wk[k]


@njit(cache=True, nogil=True)
def row_counts(fixed, row_nnz, row_free, row_cpl, r0, r1):
    """Per image row (r0 to r1): entries of A, unknowns, and couplings to scribbled neighbours."""
    h, w = fixed.shape
    for i in range(r0, r1):
        nnz = 0
        nfree = 0
        ncpl = 0
        for j in range(w):
            if fixed[i, j]:
                continue
            nfree += 1
            nnz += 1
            for k in range(8):
                ii = i + _DY[k]
                jj = j + _DX[k]
                if ii >= 0 and ii < h and jj >= 0 and jj < w:
                    if fixed[ii, jj]:
                        ncpl += 1
                    else:
                        nnz += 1
        row_nnz[i] = nnz
        row_free[i] = nfree
        row_cpl[i] = ncpl


@njit(cache=True, nogil=True)
def fill_system(y, fixed, index, nnz0, free0, cpl0, diag, indptr, indices, data, bptr, bcols, bvals, r0, r1):
    """Write the CSR arrays of A (``diag`` on the diagonal, minus the weights to unknown neighbours) and of the
    coupling matrix B (weights to scribbled neighbours, columns numbered among the scribbled pixels).

    ``index[i, j]`` is the unknown number of a free pixel and the scribble number of a fixed one; ``nnz0``,
    ``free0`` and ``cpl0`` are the exclusive prefix sums of :func:`row_counts` over image rows. Rows r0 to r1.
    """
    h, w = fixed.shape
    wk = np.empty(8)
    for i in range(r0, r1):
        p = nnz0[i]
        r = free0[i]
        q = cpl0[i]
        for j in range(w):
            if fixed[i, j]:
                continue
            _pixel_weights(y, i, j, wk)
            indptr[r] = p
            bptr[r] = q
            for k in range(8):
                if k == 4:  # the centre comes between neighbours 3 and 4 in column order
                    indices[p] = r
                    data[p] = diag
                    p += 1
                ii = i + _DY[k]
                jj = j + _DX[k]
                if ii >= 0 and ii < h and jj >= 0 and jj < w:
                    if fixed[ii, jj]:
                        bcols[q] = index[ii, jj]
                        bvals[q] = wk[k]
                        q += 1
                    else:
                        indices[p] = index[ii, jj]
                        data[p] = -wk[k]
                        p += 1
            r += 1


# ---------------------------------------------------------------------------------------------------------------
# The dissection tree of the full-grid system, for the multifrontal solve (_scribble_mf).

_DY9 = np.array([-1, -1, -1, 0, 0, 0, 1, 1, 1], np.int64)
_DX9 = np.array([-1, 0, 1, -1, 0, 1, -1, 0, 1], np.int64)


@njit(cache=True)
def nd_tree(h, w, leaf):
    """Dissection tree of an (h, w) grid, the same cuts as :func:`tinct.colorize.scribble.nested_dissection`.

    Returns, per node in postorder: rectangle (r0, r1, c0, c1), axis of the cut (0 leaf, 1 a row at ``cut``,
    2 a column at ``cut``), the two children (-1 if none), the parent (-1 for the root) and the depth.
    """
    # Preorder visiting the second child first; reversed, it is a postorder with every subtree contiguous.
    nodes = []  # (r0, r1, c0, c1, axis, cut, parent, depth) in that preorder
    stack = [(0, h, 0, w, -1, 0)]
    while len(stack) > 0:
        r0, r1, c0, c1, parent, depth = stack.pop()
        node = len(nodes)
        if (r1 - r0) * (c1 - c0) <= leaf:
            nodes.append((r0, r1, c0, c1, 0, 0, parent, depth))
        elif r1 - r0 >= c1 - c0:
            m = (r0 + r1) // 2
            nodes.append((r0, r1, c0, c1, 1, m, parent, depth))
            if m > r0:
                stack.append((r0, m, c0, c1, node, depth + 1))
            if r1 > m + 1:
                stack.append((m + 1, r1, c0, c1, node, depth + 1))
        else:
            m = (c0 + c1) // 2
            nodes.append((r0, r1, c0, c1, 2, m, parent, depth))
            if m > c0:
                stack.append((r0, r1, c0, m, node, depth + 1))
            if c1 > m + 1:
                stack.append((r0, r1, m + 1, c1, node, depth + 1))
    n = len(nodes)
    rect = np.empty((n, 4), np.int64)
    ax = np.empty(n, np.int64)
    cut = np.empty(n, np.int64)
    parent = np.full(n, -1, np.int64)
    depth = np.empty(n, np.int64)
    children = np.full((n, 2), -1, np.int64)
    for a in range(n):
        p = n - 1 - a  # postorder index
        r0, r1, c0, c1, axis, m, par, dep = nodes[a]
        rect[p, 0] = r0
        rect[p, 1] = r1
        rect[p, 2] = c0
        rect[p, 3] = c1
        ax[p] = axis
        cut[p] = m
        depth[p] = dep
        if par >= 0:
            q = n - 1 - par
            parent[p] = q
            if children[q, 0] < 0:
                children[q, 0] = p
            else:
                children[q, 1] = p
    return rect, ax, cut, children, parent, depth


@njit(cache=True, inline="always")
def _eliminated(rect, ax, cut, node, w, out):
    r0, r1, c0, c1 = rect[node, 0], rect[node, 1], rect[node, 2], rect[node, 3]
    n = 0
    if ax[node] == 0:
        for r in range(r0, r1):
            for c in range(c0, c1):
                out[n] = r * w + c
                n += 1
    elif ax[node] == 1:
        for c in range(c0, c1):
            out[n] = cut[node] * w + c
            n += 1
    else:
        for r in range(r0, r1):
            out[n] = r * w + cut[node]
            n += 1
    return n


@njit(cache=True, inline="always")
def _ring(rect, node, h, w, out):
    r0, r1, c0, c1 = rect[node, 0], rect[node, 1], rect[node, 2], rect[node, 3]
    n = 0
    for r in range(r0 - 1, r1 + 1):
        if r < 0 or r >= h:
            continue
        if r == r0 - 1 or r == r1:
            for c in range(max(c0 - 1, 0), min(c1 + 1, w)):
                out[n] = r * w + c
                n += 1
        else:
            if c0 > 0:
                out[n] = r * w + c0 - 1
                n += 1
            if c1 < w:
                out[n] = r * w + c1
                n += 1
    return n


@njit(cache=True)
def front_sizes(rect, ax, cut, h, w):
    n = rect.shape[0]
    ni = np.empty(n, np.int64)
    nb = np.empty(n, np.int64)
    buf = np.empty(h * w + 2 * (h + w) + 8, np.int64)
    for node in range(n):
        ni[node] = _eliminated(rect, ax, cut, node, w, buf)
        nb[node] = _ring(rect, node, h, w, buf)
    return ni, nb


_SMALL = 32  # fronts eliminating at most this many pixels are factorised with loops, larger ones with BLAS


_TINY = 1e-30  # fronts' entries below this are dropped: products of them would be subnormal (and slow)
