"""Sparse frames: built once per sample before caching, collated time-major, equal to dense."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from spikeenergy.data import FrameConfig, FrameDataset, collate_time_major, make_events
from spikeenergy.data.frames import frames_to_coo


class _Events:
    """A tiny 2-D event dataset (sensor 5 x 3, 2 polarities) counting its reads."""

    sensor_size = (5, 3, 2)
    classes = ["a", "b"]

    def __init__(self, n: int = 5):
        self.targets = [i % 2 for i in range(n)]
        self.reads = 0

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        self.reads += 1
        k = 3 + 2 * i  # sample i has 3 + 2i events, two of them at the same pixel and bin
        t = np.arange(k) * 50
        x, p, y = np.arange(k) % 5, np.arange(k) % 2, np.arange(k) % 3
        t[1], x[1], p[1], y[1] = t[0], x[0], p[0], y[0]
        return make_events(t, x, p, y=y), i % 2


def test_sparse_samples_equal_dense_and_cache_only_indices():
    dense = FrameDataset(_Events(), FrameConfig(n_time_bins=4))
    src = _Events()
    sparse = FrameDataset(src, FrameConfig(n_time_bins=4, sparse=True))
    for i in range(len(dense)):
        xd, yd = dense[i]
        xs, ys = sparse[i]
        assert xs.is_sparse
        assert xs.is_coalesced()
        assert yd == ys
        assert torch.equal(xs.to_dense(), xd)
    assert float(sparse[0][0].to_dense()[0].max()) == 2.0  # the two coinciding events count twice
    sparse[0]
    assert src.reads == len(dense)  # memory cache: each sample binned once
    flat, values, *_ = sparse._inner._store[0]  # no dense frames kept: non-zeros only
    assert flat.size == values.size == 2  # sample 0: 3 events, two coincide -> 2 non-zeros


def test_sparse_disk_cache_round_trip(tmp_path):
    cfg = FrameConfig(n_time_bins=3, sparse=True, cache="disk", cache_dir=str(tmp_path))
    first = FrameDataset(_Events(), cfg, cache_key="toy")
    x0 = first[2][0]
    second = FrameDataset(_Events(), cfg, cache_key="toy")
    x1 = second[2][0]
    assert second.events.reads == 0
    assert torch.equal(x0.to_dense(), x1.to_dense())


def test_collate_sparse_equals_dense_collate_with_padding():
    g = torch.Generator().manual_seed(0)
    dense_samples = [
        ((torch.rand(steps, 2, 3, 4, generator=g) < 0.3).float() * 2, i)
        for i, steps in enumerate((3, 5, 4))
    ]
    xd, yd = collate_time_major(dense_samples)
    xs, ys = collate_time_major([(x.to_sparse(), y) for x, y in dense_samples])
    assert xs.is_sparse
    assert xs.is_coalesced()
    assert xs.shape == (5, 3, 2, 3, 4)
    assert torch.equal(xs.to_dense(), xd)
    assert torch.equal(ys, yd)
    # coalesced order is lexicographic in (t, b, c, h, w)
    idx = xs.indices()
    key = (((idx[0] * 3 + idx[1]) * 2 + idx[2]) * 3 + idx[3]) * 4 + idx[4]
    assert bool((key[1:] > key[:-1]).all())
    with pytest.raises(TypeError, match="mix"):
        collate_time_major([dense_samples[0], (dense_samples[1][0].to_sparse(), 1)])


def test_dense_cache_key_unchanged_and_sparse_key_differs():
    cfg = FrameConfig(n_time_bins=7)
    # the key as computed before the sparse option existed: hash of the binning fields only
    # (storage options, and the later fixed window t_start_us / duration_us, are not binning)
    skip = ("cache", "cache_dir", "cache_limit_mb", "sparse", "t_start_us", "duration_us")
    fields = {k: v for k, v in asdict(cfg).items() if k not in skip}
    old = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    assert cfg.key() == old
    assert FrameConfig(n_time_bins=7, sparse=True).key() != old


def test_frames_to_coo_is_coalesced_c_order():
    frames = np.zeros((2, 1, 2, 2), dtype=np.float32)
    frames[1, 0, 0, 1] = 3.0
    frames[0, 0, 1, 0] = 1.0
    coo = frames_to_coo(frames)
    # C order: (0,0,1,0) before (1,0,0,1)
    assert coo["indices"].T.tolist() == [[0, 0, 1, 0], [1, 0, 0, 1]]
    assert coo["values"].tolist() == [1.0, 3.0]
    assert coo["shape"].tolist() == [2, 1, 2, 2]
