"""Numba kernels of :func:`tinct.colorize.scribble.solve_grid`: multifrontal elimination on the pixel grid.

The system has one row per pixel: a scribbled pixel's row is the identity, a free pixel's row is the 3 x 3 stencil
``S[k, i, j]`` (k in raster order over the window, the centre is k = 4). Every node of the dissection tree
(:func:`tinct.colorize._scribble_kernels.nd_tree`) is a rectangle of the grid; an inner node eliminates its
separator line, a leaf its whole rectangle. The front of a node is [eliminated pixels I, ring B], the ring being
the pixels around the rectangle, all of them on ancestors' separators. Fronts are dense: the rows of I, the
columns of I in the rows of B, and the children's Schur complements on their rings. The right-hand side is
eliminated along with the matrix (forward substitution happens during the factorisation), so only
``W = F11^-1 F12`` is kept for the back substitution ``x_I = z_I - W x_B``: about 0.4 GB at 1 MP. Entries of
the fronts below ``_TINY`` are dropped: products of such numbers are subnormal and slow the dense kernels down
several times, and next to the O(1) entries of the system they change nothing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinct.colorize._scribble_kernels import _DX9, _DY9, _SMALL, _TINY, _eliminated, _ring


@njit(cache=True)
def new_updates():
    """An empty node -> Schur complement dict (made here: typed containers built from Python compile each time)."""
    d = {np.int64(0): np.empty((1, 1))}
    d.pop(np.int64(0))
    return d


@njit(cache=True)
def merge_updates(dst, src):
    for k, v in src.items():
        dst[k] = v


@njit(cache=True)
def take_updates(dst, src, keys):
    """Move the entries ``keys`` (those present) from ``src`` to ``dst``."""
    for k in keys:
        if k in src:
            dst[k] = src.pop(k)


@njit(cache=True)
def _solve_small(a, r):
    """``a^-1 r`` by Gauss-Jordan without pivoting: fronts are Schur complements of a nonsingular M-matrix, whose
    pivots are positive (the argument that lets SuperLU run without pivoting too)."""
    n = a.shape[0]
    m = r.shape[1]
    a = a.copy()
    r = r.copy()
    for k in range(n):
        p = 1.0 / a[k, k]
        for j in range(k + 1, n):
            a[k, j] *= p
        for j in range(m):
            r[k, j] *= p
        for i in range(n):
            if i == k:
                continue
            f = a[i, k]
            if f == 0.0:
                continue
            for j in range(k + 1, n):
                a[i, j] -= f * a[k, j]
            for j in range(m):
                r[i, j] -= f * r[k, j]
    return r


@njit(cache=True)
def _matmul_small(a, b):
    n, m = a.shape
    p = b.shape[1]
    out = np.zeros((n, p))
    for i in range(n):
        for k in range(m):
            f = a[i, k]
            if f == 0.0:
                continue
            for j in range(p):
                out[i, j] += f * b[k, j]
    return out


@njit(cache=True, nogil=True)
def eliminate_nodes(nodes, rect, ax, cut, children, ni, nb, off_w, S, wbuf, updates, gl, x):
    """Eliminate the fronts of ``nodes`` (children before parents) from the matrix and from ``x`` (h * w, C).

    Leaves ``z_I = F11^-1 b_I`` in ``x[I]``, subtracts ``F21 z_I`` from ``x[B]``, stores ``W = F11^-1 F12``
    (ni x nb) at ``wbuf[off_w[node]]`` and the Schur complement ``F22 - F21 W`` in ``updates[node]`` for the
    parent. ``gl`` is an all -1 scratch array of h * w entries, left all -1.
    """
    h, w = S.shape[1], S.shape[2]
    C = x.shape[1]
    for t in range(nodes.shape[0]):
        node = nodes[t]
        nI, nB = ni[node], nb[node]
        elim = np.empty(nI, np.int64)
        ring = np.empty(nB, np.int64)
        _eliminated(rect, ax, cut, node, w, elim)
        _ring(rect, node, h, w, ring)
        for a in range(nI):
            gl[elim[a]] = a
        for b in range(nB):
            gl[ring[b]] = nI + b
        nF = nI + nB
        F = np.zeros((nF, nF))  # the front: [[F11, F12], [F21, F22]]
        for a in range(nI):
            p = elim[a]
            i = p // w
            j = p - i * w
            for k in range(9):
                ii = i + _DY9[k]
                jj = j + _DX9[k]
                if ii < 0 or ii >= h or jj < 0 or jj >= w:
                    continue
                g = gl[ii * w + jj]
                if g < 0:  # eliminated in a descendant, whose front held this entry
                    continue
                F[a, g] += S[k, i, j]
                if g >= nI:
                    F[g, a] += S[8 - k, ii, jj]
        for side in range(2):
            child = children[node, side]
            if child < 0:
                continue
            nBc = nb[child]
            Bc = np.empty(nBc, np.int64)
            _ring(rect, child, h, w, Bc)
            for a in range(nBc):
                Bc[a] = gl[Bc[a]]  # the child's ring, as rows of this front
            Uc = updates.pop(child)
            for a in range(nBc):
                ga = Bc[a]
                for b in range(nBc):
                    F[ga, Bc[b]] += Uc[a, b]
        for a in range(nI):
            gl[elim[a]] = -1
        for b in range(nB):
            gl[ring[b]] = -1
        R = np.empty((nI, nB + C))  # [F12 | b_I]
        for a in range(nI):
            for b in range(nB):
                R[a, b] = F[a, nI + b]
            for c in range(C):
                R[a, nB + c] = x[elim[a], c]
        small = nI <= _SMALL
        if small:  # loops: BLAS / LAPACK calls cost more than the work on the many small fronts at the bottom
            X = _solve_small(F[:nI, :nI], R)
        else:
            # inv + GEMM: LAPACK's triangular solves (gesv) ran at two thirds of GEMM's speed here
            X = np.ascontiguousarray(np.linalg.inv(np.ascontiguousarray(F[:nI, :nI]))) @ R
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
        if nB > 0:
            if small:
                P = _matmul_small(F[nI:, :nI], X)
            else:
                P = np.ascontiguousarray(F[nI:, :nI]) @ X
            U = np.empty((nB, nB))
            for a in range(nB):
                for b in range(nB):
                    v = F[nI + a, nI + b] - P[a, b]
                    U[a, b] = v if abs(v) >= _TINY else 0.0
                for c in range(C):
                    x[ring[a], c] -= P[a, nB + c]
            updates[node] = U


@njit(cache=True, nogil=True)
def back_substitute(nodes, rect, ax, cut, ni, nb, off_w, wbuf, x):
    """``x_I <- x_I - W x_B`` for ``nodes`` in order (parents first)."""
    C = x.shape[1]
    w = rect[rect.shape[0] - 1, 3]  # the root, last in postorder, covers the grid
    h = x.shape[0] // w
    for t in range(nodes.shape[0]):
        node = nodes[t]
        nI, nB = ni[node], nb[node]
        if nB == 0:
            continue
        elim = np.empty(nI, np.int64)
        ring = np.empty(nB, np.int64)
        _eliminated(rect, ax, cut, node, w, elim)
        _ring(rect, node, h, w, ring)
        xb = np.empty((nB, C))
        for b in range(nB):
            for c in range(C):
                xb[b, c] = x[ring[b], c]
        o = off_w[node]
        d = wbuf[o : o + nI * nB].reshape(nI, nB) @ xb
        for a in range(nI):
            for c in range(C):
                x[elim[a], c] -= d[a, c]
