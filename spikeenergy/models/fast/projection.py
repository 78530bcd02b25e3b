"""Time-batched synaptic projections: one matmul / convolution over all T * B rows.

Event-sparse inputs (a sparse COO tensor ``(T, B, *frame)``, as :class:`FrameDataset` delivers
with ``FrameConfig(sparse=True)``) go through :class:`SparseLinear`: the forward gathers weight
rows per event (CSR order, ``embedding_bag``), the weight gradient gathers output gradients per
input feature (CSC order). Both are sums over the non-zero events only, the same products as the
dense matmul (exact in fp32 up to summation order).

A first convolution on sparse input can go through :class:`SparseConv2d`: each event scatters
the kernel slice of its input channel into the output (one ``index_add_`` per kernel offset, k*k
in all), and the weight gradient gathers the output gradient at the same positions; its cost
grows with the number of events, not with T * B * H * W * C_in * k * k. Both paths still write
the dense T * B * C' * H' * W' output, which dominates a first layer of 2 input channels, so on
CPU the scatter only wins on very sparse input: ``conv_seq`` uses it up to
``SPARSE_CONV_MAX_DENSITY`` (0.5 % of the input elements, where it measured about as fast as the
blocked dense convolution, forward + backward, on a 2-core Xeon) and densifies denser input.

Dense convolutions run over the T * B images in blocks of about ``CONV_BLOCK_BYTES`` of
unfolded input each: one convolution over all T * B images at once is slower on CPU than T
per-step convolutions (its working set leaves the caches), blocks of a few hundred images are
not.
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


#: Unfolded-input bytes per block of a time-batched dense convolution (see the module docstring).
CONV_BLOCK_BYTES = 16 * 2**20
#: Sparse input at most this dense (non-zeros / elements) takes the event scatter (docstring).
SPARSE_CONV_MAX_DENSITY = 0.005


def _conv_block(conv: nn.Conv2d, image_shape: tuple[int, ...]) -> int:
    """Images per block: C_in * k_h * k_w * H * W float32 values of unfolded input each."""
    c, h, w = image_shape
    per_image = 4 * c * math.prod(conv.kernel_size) * h * w
    return max(1, CONV_BLOCK_BYTES // per_image)


def conv_seq(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv`` on every step of ``x: (T, B, C, H, W)``: the T*B images in blocks (dense input)
    or, for sparse input up to ``SPARSE_CONV_MAX_DENSITY``, one event scatter
    (:func:`sparse_conv_seq`)."""
    if x.is_sparse:
        density = x._nnz() / max(1, x.numel())
        if density <= SPARSE_CONV_MAX_DENSITY and _scatter_supported(conv):
            return sparse_conv_seq(x, conv)
        x = x.to_dense()
    flat = x.flatten(0, 1)  # (T*B, C, H, W)
    block = _conv_block(conv, tuple(flat.shape[1:]))
    if flat.shape[0] <= block:
        y = conv._conv_forward(flat, conv.weight, conv.bias)
    else:
        y = torch.cat([conv._conv_forward(b, conv.weight, conv.bias) for b in flat.split(block)])
    return y.view(x.shape[0], x.shape[1], *y.shape[1:])  # (T, B, C', H', W')


def _scatter_supported(conv: nn.Conv2d) -> bool:
    """Stride 1, no dilation, one group, zero padding given as integers: what the scatter does."""
    return (
        tuple(conv.stride) == (1, 1)
        and tuple(conv.dilation) == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
    )


def _kernel_offsets(
    y: Tensor, x: Tensor, ky: int, kx: int, pad: tuple[int, int], out_hw: tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """Events at (y, x) reach output (y - ky + pad_h, x - kx + pad_w): (valid mask, flat pixel)."""
    oy = y - ky + pad[0]
    ox = x - kx + pad[1]
    valid = (oy >= 0) & (oy < out_hw[0]) & (ox >= 0) & (ox < out_hw[1])
    return valid, oy * out_hw[1] + ox


class SparseConv2d(torch.autograd.Function):
    """Conv2d (stride 1, zero padding) of sparse events (image, channel, y, x, value); W and b get
    gradients. The output is dense ``(n_images, C', H', W')``."""

    @staticmethod
    def forward(
        ctx: Any,
        img: Tensor,
        ch: Tensor,
        yy: Tensor,
        xx: Tensor,
        vals: Tensor,
        n_images: int,
        padding: tuple[int, int],
        out_hw: tuple[int, int],
        weight: Tensor,
        bias: Tensor | None,
    ) -> Tensor:
        c_out, c_in, k_h, k_w = weight.shape
        plane = out_hw[0] * out_hw[1]
        vals = vals.to(weight.dtype)
        binary = bool((vals == 1).all())
        # kernel slice of input channel c at offset (ky, kx): one row of C' weights
        rows = weight.permute(1, 2, 3, 0).reshape(c_in * k_h * k_w, c_out)
        channel_offsets = torch.arange(c_out, device=weight.device) * plane
        out = weight.new_empty(n_images, c_out, plane)
        if bias is not None:
            out.copy_(bias.detach().view(1, -1, 1).expand_as(out))  # bias first: one pass
        else:
            out.zero_()
        out = out.view(-1)
        base = img * (c_out * plane)
        for ky in range(k_h):
            for kx in range(k_w):
                valid, pix = _kernel_offsets(yy, xx, ky, kx, padding, out_hw)
                sel = valid.nonzero().squeeze(1)
                contrib = rows.index_select(0, (ch.index_select(0, sel) * k_h + ky) * k_w + kx)
                if not binary:
                    contrib = contrib * vals.index_select(0, sel)[:, None]
                target = (base.index_select(0, sel) + pix.index_select(0, sel))[:, None]
                out.index_add_(0, (target + channel_offsets).view(-1), contrib.reshape(-1))
        out = out.view(n_images, c_out, *out_hw)
        ctx.save_for_backward(img, ch, yy, xx, vals)
        ctx.meta = (binary, padding, out_hw, (c_out, c_in, k_h, k_w), bias is not None)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        img, ch, yy, xx, vals = ctx.saved_tensors
        binary, padding, out_hw, (c_out, c_in, k_h, k_w), has_bias = ctx.meta
        grad_w = grad_b = None
        g = grad.reshape(grad.shape[0], c_out, -1)  # (n_images, C', H' * W')
        if ctx.needs_input_grad[8]:
            grad_w = grad.new_zeros(c_out, c_in, k_h, k_w)
            for ky in range(k_h):
                for kx in range(k_w):
                    valid, pix = _kernel_offsets(yy, xx, ky, kx, padding, out_hw)
                    sel = valid.nonzero().squeeze(1)
                    got = g[img.index_select(0, sel), :, pix.index_select(0, sel)]  # (n, C')
                    if not binary:
                        got = got * vals.index_select(0, sel)[:, None]
                    per_channel = grad.new_zeros(c_in, c_out)
                    per_channel.index_add_(0, ch.index_select(0, sel), got)
                    grad_w[:, :, ky, kx] = per_channel.t()
        if has_bias and ctx.needs_input_grad[9]:
            grad_b = grad.sum((0, 2, 3))
        return None, None, None, None, None, None, None, None, grad_w, grad_b


def sparse_conv_seq(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """Sparse COO ``(T, B, C, H, W)`` events through ``conv`` -> dense ``(T, B, C', H', W')``.

    Convolutions the scatter does not cover (stride, dilation, groups, padding modes) densify the
    input and run the dense path.
    """
    if x.requires_grad:
        raise ValueError("sparse inputs cannot require grad; pass x.detach() or a dense input")
    if x.dim() != 5:
        raise ValueError(f"expected sparse (T, B, C, H, W) frames, got shape {tuple(x.shape)}")
    if not _scatter_supported(conv):
        return conv_seq(x.to_dense(), conv)
    if not x.is_coalesced():
        x = x.coalesce()
    if x.sparse_dim() != x.dim():
        raise ValueError(
            "sparse input must be fully sparse (no dense dimensions); use x.to_sparse()"
        )
    steps, batch, c_in, h, w = x.shape
    if c_in != conv.in_channels:
        raise ValueError(f"sparse input has {c_in} channels, the layer expects {conv.in_channels}")
    k_h, k_w = conv.kernel_size
    pad = (int(conv.padding[0]), int(conv.padding[1]))
    out_hw = (h + 2 * pad[0] - k_h + 1, w + 2 * pad[1] - k_w + 1)
    idx = x.indices()
    img = idx[0] * batch + idx[1]
    y: Tensor = SparseConv2d.apply(
        img, idx[2], idx[3], idx[4], x.values(), steps * batch, pad, out_hw, conv.weight, conv.bias
    )
    return y.view(steps, batch, *y.shape[1:])


def per_step(module: nn.Module, x: Tensor) -> Tensor:
    """A per-sample module (pooling) applied to all T*B samples of ``x: (T, B, ...)`` at once."""
    y = module(x.flatten(0, 1))
    return y.view(x.shape[0], x.shape[1], *y.shape[1:])
