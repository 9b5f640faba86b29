"""Numba kernels of :func:`tinct.colorize.scribble.solve_grid`: multifrontal elimination on the pixel grid.

The system has one row per pixel: a scribbled pixel's row is the identity, a free pixel's row is ``diag`` on the
diagonal minus its eight affinities ``Wt[m, i, j]`` (:func:`tinct.colorize._scribble_kernels.weight_planes`, the
neighbours in raster order without the centre). Every node of the dissection tree
(:func:`tinct.colorize._scribble_kernels.nd_tree`) is a rectangle of the grid; an inner node eliminates its
separator line, a leaf its whole rectangle. The front of a node is [eliminated pixels I, ring B], the ring being
the pixels around the rectangle, all of them on ancestors' separators, with the right-hand side as C more columns:
``[[F11, F12, b_I], [F21, F22, b_B]]``. Fronts are dense: the rows of I, the columns of I in the rows of B, and the
children's updates on their rings. Eliminating I leaves ``X = F11^-1 [F12 | b_I]``: its first nB columns
``W = F11^-1 F12`` are kept for the back substitution ``x_I = z_I - W x_B`` (about 0.4 GB at 1 MP), its last C
columns ``z_I`` go to ``x[I]``, and the update ``[F22 | b_B] - F21 X`` goes to the parent.

Updates travel on a stack, as in Duff and Reid's multifrontal method [1]_: in postorder a node's children are the
two most recent entries. Since the right-hand side is carried in the fronts, a node writes only ``x`` of its own
pixels, so independent subtrees run in threads on one shared ``x``. Entries of the fronts below ``_TINY`` are
dropped: products of such numbers are subnormal and slow the dense kernels down several times, and next to the
O(1) entries of the system they change nothing.

References
----------
.. [1] I. S. Duff, J. K. Reid, "The multifrontal solution of indefinite sparse symmetric linear equations",
       ACM TOMS 9(3), 1983.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinct.colorize._scribble_kernels import _DX9, _DY9, _SMALL, _TINY, _eliminated, _ring


@njit(cache=True, nogil=True)
def _solve_small(a, r):
    """``a^-1 r`` by Gaussian elimination without pivoting (``a`` and ``r`` are overwritten): fronts are Schur
    complements of a nonsingular M-matrix, whose pivots are positive (why SuperLU runs without pivoting too)."""
    n = a.shape[0]
    m = r.shape[1]
    for k in range(n):
        p = 1.0 / a[k, k]
        for j in range(k + 1, n):
            a[k, j] *= p
        for j in range(m):
            r[k, j] *= p
        for i in range(k + 1, n):
            f = a[i, k]
            if f == 0.0:
                continue
            for j in range(k + 1, n):
                a[i, j] -= f * a[k, j]
            for j in range(m):
                r[i, j] -= f * r[k, j]
    for k in range(n - 1, 0, -1):  # the unit upper triangle, backwards
        for i in range(k):
            f = a[i, k]
            if f == 0.0:
                continue
            for j in range(m):
                r[i, j] -= f * r[k, j]
    return r


@njit(cache=True, inline="always")
def _entry(Wt, fixed, diag, i, j, k):
    """Row (i, j) of the system at column offset k of the 3 x 3 window (raster order, centre 4)."""
    if fixed[i, j]:
        return 1.0 if k == 4 else 0.0
    if k == 4:
        return diag
    return -np.float64(Wt[k if k < 4 else k - 1, i, j])


@njit(cache=True, nogil=True)
def eliminate(lo, hi, rect, ax, cut, children, ni, nb, off_w, Wt, fixed, diag, wbuf, x, u0, u1, gl):
    """Eliminate the nodes ``lo`` to ``hi - 1`` (postorder) from the matrix and the right-hand side ``x``.

    The range is a whole subtree, or one node whose children's updates are ``u0`` and ``u1`` (for
    ``children[node, 0]`` and ``[node, 1]``; ignored where a child is in the range). Stores each node's
    ``W`` at ``wbuf[off_w[node]]`` and ``z_I`` in ``x[I]``; returns the last node's update, (nB, nB + C).
    ``gl`` is an all -1 scratch array of h * w entries, left all -1.
    """
    h, w = fixed.shape
    C = x.shape[1]
    # The stack's peak, found by running its pushes and pops once.
    sizes = np.empty(hi - lo + 1, np.int64)
    size = 0
    top = 0
    nst = 0
    for node in range(lo, hi):
        for side in range(2):
            if children[node, side] >= lo:
                nst -= 1
                top -= sizes[nst]
        sizes[nst] = nb[node] * (nb[node] + C)
        top += sizes[nst]
        nst += 1
        size = max(size, top)
    stack = np.empty(size)
    start = np.empty(hi - lo + 1, np.int64)  # where each stack entry begins
    nst = 0
    elim = np.empty(np.max(ni[lo:hi]), np.int64)
    ring = np.empty(np.max(nb[lo:hi]) + 1, np.int64)
    ringc = np.empty(np.max(nb) + 1, np.int64)
    U = np.empty((0, C))
    for node in range(lo, hi):
        nI, nB = ni[node], nb[node]
        _eliminated(rect, ax, cut, node, w, elim)
        _ring(rect, node, h, w, ring)
        for a in range(nI):
            gl[elim[a]] = a
        for b in range(nB):
            gl[ring[b]] = nI + b
        nF = nI + nB
        F = np.zeros((nF, nF + C))  # [[F11, F12, b_I], [F21, F22, b_B]]
        for a in range(nI):
            p = elim[a]
            i = p // w
            j = p - i * w
            for c in range(C):
                F[a, nF + c] = x[p, c]
            for k in range(9):
                ii = i + _DY9[k]
                jj = j + _DX9[k]
                if ii < 0 or ii >= h or jj < 0 or jj >= w:
                    continue
                g = gl[ii * w + jj]
                if g < 0:  # eliminated in a descendant, whose front held this entry
                    continue
                F[a, g] += _entry(Wt, fixed, diag, i, j, k)
                if g >= nI:
                    F[g, a] += _entry(Wt, fixed, diag, ii, jj, 8 - k)
        # The children's updates: in the range, the one eliminated later is on top of the stack.
        c0, c1 = children[node, 0], children[node, 1]
        for child in (max(c0, c1), min(c0, c1)):
            if child < 0:
                continue
            nBc = nb[child]
            _ring(rect, child, h, w, ringc)
            if child >= lo:
                nst -= 1
                o = start[nst]
                Uc = stack[o : o + nBc * (nBc + C)].reshape(nBc, nBc + C)
            else:
                Uc = u0 if child == c0 else u1
            for a in range(nBc):
                ga = gl[ringc[a]]
                for b in range(nBc):
                    F[ga, gl[ringc[b]]] += Uc[a, b]
                for c in range(C):
                    F[ga, nF + c] += Uc[a, nBc + c]
        sp = start[nst - 1] + sizes[nst - 1] if nst > 0 else 0
        for a in range(nI):
            gl[elim[a]] = -1
        for b in range(nB):
            gl[ring[b]] = -1
        if nI <= _SMALL:  # loops: BLAS / LAPACK calls cost more than the work on the many small fronts at the bottom
            X = _solve_small(F[:nI, :nI].copy(), F[:nI, nI:].copy())
        else:
            # inv + GEMM: LAPACK's triangular solves (gesv) ran at two thirds of GEMM's speed here
            X = np.ascontiguousarray(np.linalg.inv(np.ascontiguousarray(F[:nI, :nI]))) @ np.ascontiguousarray(
                F[:nI, nI:])
        o = off_w[node]
        for a in range(nI):
            for b in range(nB):
                v = X[a, b]
                if abs(v) < _TINY:
                    v = 0.0
                    X[a, b] = 0.0
                wbuf[o + a * nB + b] = v
            for c in range(C):
                x[elim[a], c] = X[a, nB + c]
        U = stack[sp : sp + nB * (nB + C)].reshape(nB, nB + C)
        start[nst] = sp
        sizes[nst] = nB * (nB + C)
        nst += 1
        if nB > 0:
            if nI <= _SMALL:
                for a in range(nB):
                    for b in range(nB + C):
                        U[a, b] = F[nI + a, nI + b]
                    for k in range(nI):
                        f = F[nI + a, k]
                        if f == 0.0:
                            continue
                        for b in range(nB + C):
                            U[a, b] -= f * X[k, b]
            else:
                P = np.ascontiguousarray(F[nI:, :nI]) @ X
                for a in range(nB):
                    for b in range(nB + C):
                        U[a, b] = F[nI + a, nI + b] - P[a, b]
            for a in range(nB):
                for b in range(nB):
                    if abs(U[a, b]) < _TINY:
                        U[a, b] = 0.0
    return U.copy()


@njit(cache=True, nogil=True)
def back_substitute(nodes, rect, ax, cut, ni, nb, off_w, wbuf, x, w):
    """``x_I <- x_I - W x_B`` for ``nodes`` in order (parents first) on a grid ``w`` pixels wide."""
    C = x.shape[1]
    h = x.shape[0] // w
    elim = np.empty(np.max(ni), np.int64)
    ring = np.empty(np.max(nb) + 1, np.int64)
    xb = np.empty((np.max(nb) + 1, C))
    for t in range(nodes.shape[0]):
        node = nodes[t]
        nI, nB = ni[node], nb[node]
        if nB == 0:
            continue
        _eliminated(rect, ax, cut, node, w, elim)
        _ring(rect, node, h, w, ring)
        for b in range(nB):
            for c in range(C):
                xb[b, c] = x[ring[b], c]
        o = off_w[node]
        for a in range(nI):
            row = wbuf[o + a * nB : o + (a + 1) * nB]
            for c in range(C):
                s = 0.0
                for b in range(nB):
                    s += row[b] * xb[b, c]
                x[elim[a], c] -= s
