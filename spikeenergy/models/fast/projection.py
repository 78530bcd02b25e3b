"""Time-batched synaptic projections: one matmul / convolution over all T * B rows.

Event-sparse inputs (a sparse COO tensor ``(T, B, *frame)``, as :class:`FrameDataset` delivers
with ``FrameConfig(sparse=True)``) go through :class:`SparseLinear`: the forward gathers weight
rows per event (CSR order, ``embedding_bag``), the weight gradient gathers output gradients per
input feature (CSC order). Both are sums over the non-zero events only, the same products as the
dense matmul (exact in fp32 up to summation order).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def dense_input(x: Tensor) -> Tensor:
    """A sparse tensor as a dense one (library paths and layers without a sparse kernel)."""
    return x.to_dense() if x.is_sparse else x


def _flat_rows_cols(x: Tensor) -> tuple[Tensor, Tensor, Tensor, int, int]:
    """Sparse (T, B, *frame) -> (rows = t*B + b, cols = flat frame index, values, T*B, F)."""
    if not x.is_coalesced():
        x = x.coalesce()
    if x.sparse_dim() != x.dim():
        raise ValueError(
            "sparse input must be fully sparse (no dense dimensions); use x.to_sparse()"
        )
    idx, vals = x.indices(), x.values()
    t_steps, batch, *frame = x.shape
    rows = idx[0] * batch + idx[1]
    cols = torch.zeros_like(rows)
    for d, size in enumerate(frame):
        cols = cols * size + idx[2 + d]
    return rows, cols, vals, t_steps * batch, math.prod(frame)


def _stable_order(keys: Tensor, n: int) -> Tensor:
    """Stable argsort of integer keys in [0, n): numpy's O(nnz) radix sort for small CPU keys."""
    if keys.device.type == "cpu" and n <= 32767:
        order = np.argsort(keys.numpy().astype(np.int16), kind="stable")
        return torch.from_numpy(order.astype(np.int64))
    return torch.argsort(keys, stable=True)


def _offsets(sorted_keys: Tensor, n: int) -> Tensor:
    """CSR-style offsets (n + 1,) of sorted integer keys in [0, n)."""
    return torch.searchsorted(sorted_keys, torch.arange(n + 1, device=sorted_keys.device))


class SparseLinear(torch.autograd.Function):
    """y = x W^T + b for sparse x given as sorted (rows, cols, values); gradients for W and b."""

    @staticmethod
    def forward(
        ctx: Any,
        rows: Tensor,
        cols: Tensor,
        vals: Tensor,
        n_rows: int,
        n_cols: int,
        weight: Tensor,
        bias: Tensor | None,
    ) -> Tensor:
        w_t = weight.t().contiguous()  # (F, H): one row per input feature
        vals_w = vals.to(w_t.dtype)
        # binary event frames (all values 1): plain sums, no per-event weights to multiply/gather
        binary = bool((vals_w == 1).all())
        out = F.embedding_bag(
            cols,
            w_t,
            _offsets(rows, n_rows),
            mode="sum",
            per_sample_weights=None if binary else vals_w,
            include_last_offset=True,
        )  # (n_rows, H); rows without events are 0
        if bias is not None:
            out = out + bias
        ctx.save_for_backward(rows, cols, vals_w)
        ctx.binary = binary
        ctx.n_cols = n_cols
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        rows, cols, vals = ctx.saved_tensors
        grad_w = grad_b = None
        if ctx.needs_input_grad[5]:
            order = _stable_order(cols, ctx.n_cols)  # CSC: events grouped by input feature
            cols_c = cols.index_select(0, order)  # index_select: faster than x[order] on CPU
            g_wt = F.embedding_bag(
                rows.index_select(0, order),
                grad.contiguous().to(vals.dtype),
                _offsets(cols_c, ctx.n_cols),
                mode="sum",
                per_sample_weights=None if ctx.binary else vals.index_select(0, order),
                include_last_offset=True,
            )  # (F, H) = x^T grad
            grad_w = g_wt.t()
        if ctx.has_bias and ctx.needs_input_grad[6]:
            grad_b = grad.sum(0)
        return None, None, None, None, None, grad_w, grad_b


def sparse_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Sparse COO ``(T, B, *frame)`` through a linear layer -> dense ``(T, B, out_features)``."""
    if x.requires_grad:
        raise ValueError("sparse inputs cannot require grad; pass x.detach() or a dense input")
    rows, cols, vals, n_rows, n_cols = _flat_rows_cols(x)
    if n_cols != weight.shape[1]:
        raise ValueError(
            f"sparse input has {n_cols} features per step, the layer expects {weight.shape[1]}"
        )
    out: Tensor = SparseLinear.apply(rows, cols, vals, n_rows, n_cols, weight, bias)
    return out.view(x.shape[0], x.shape[1], -1)


def linear_seq(x: Tensor, layer: nn.Linear) -> Tensor:
    """``layer`` on every step of ``x: (T, B, F)`` (dense, one matmul) or sparse ``(T, B, ...)``."""
    if x.is_sparse:
        return sparse_linear(x, layer.weight, layer.bias)
    return F.linear(x, layer.weight, layer.bias)  # (T, B, out): one matmul over T*B rows


def conv_seq(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv`` on every step of ``x: (T, B, C, H, W)`` as one convolution over T*B images."""
    x = dense_input(x)
    y = conv._conv_forward(x.flatten(0, 1), conv.weight, conv.bias)  # (T*B, C', H', W')
    return y.view(x.shape[0], x.shape[1], *y.shape[1:])


def per_step(module: nn.Module, x: Tensor) -> Tensor:
    """A per-sample module (pooling) applied to all T*B samples of ``x: (T, B, ...)`` at once."""
    y = module(x.flatten(0, 1))
    return y.view(x.shape[0], x.shape[1], *y.shape[1:])
