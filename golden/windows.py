"""Convolution windows as GEMM operands: im2col (every window of an NHWC map as one row) and its
adjoint col2im (window values summed back onto the map). The training loop, the tile compiler's
operands and the mapper's convolution GEMMs all lay windows out this way: rows in (ky, kx, c)
order, output pixels row major."""

from __future__ import annotations

import numpy as np


def out_size(n: int, kernel: int, stride: int, padding: int) -> int:
    return (n + 2 * padding - kernel) // stride + 1


def im2col(a: np.ndarray, kernel: int, stride: int = 1, padding: int = 0,
           fill=0) -> np.ndarray:
    """(N, H, W, C) -> (N*Ho*Wo, K*K*C): every window, in (ky, kx, c) order, ``fill`` outside."""
    n, h, w, c = a.shape
    ho, wo = out_size(h, kernel, stride, padding), out_size(w, kernel, stride, padding)
    p = np.pad(a, ((0, 0), (padding, padding), (padding, padding), (0, 0)), constant_values=fill)
    cols = [p[:, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride, :]
            for ky in range(kernel) for kx in range(kernel)]
    return np.concatenate(cols, axis=3).reshape(n * ho * wo, kernel * kernel * c)


def col2im(g: np.ndarray, shape, kernel: int, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """Adjoint of :func:`im2col`: sum window values back onto the (N, H, W, C) map ``shape``."""
    n, h, w, c = shape
    ho, wo = out_size(h, kernel, stride, padding), out_size(w, kernel, stride, padding)
    g = g.reshape(n, ho, wo, kernel * kernel, c)
    size = (max(h + 2 * padding, stride * (ho - 1) + kernel),
            max(w + 2 * padding, stride * (wo - 1) + kernel))
    p = np.zeros((n,) + size + (c,), dtype=g.dtype)
    for k in range(kernel * kernel):
        ky, kx = divmod(k, kernel)
        p[:, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride, :] += \
            g[:, :, :, k, :]
    return p[:, padding:padding + h, padding:padding + w, :]
