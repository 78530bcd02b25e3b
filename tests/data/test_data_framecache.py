"""The default frame cache: memory bounded by the number of events, not by T x P x H x W.

A scaled-down N-MNIST-like case (34x34x2 sensor, 1,500 events per sample, T = 100 bins):
dense float32 frames take 100 * 2 * 34 * 34 * 4 = 924,800 bytes per sample, the compact cache
5 bytes per non-zero entry (int32 index + uint8 count) plus a fixed per-sample overhead.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc

import numpy as np
import pytest
import torch

from spikeenergy.data import FrameConfig, FrameDataset, make_events
from spikeenergy.data.frames import CACHE_ENTRY_OVERHEAD, _narrowest_values

DENSE_BYTES = 100 * 2 * 34 * 34 * 4  # one sample of dense float32 frames at T = 100


class _Saccades:
    """N-MNIST-sized random recordings: 1,500 events over 300 ms on 34x34x2, seeded per sample."""

    sensor_size = (34, 34, 2)
    classes = [str(d) for d in range(10)]

    def __init__(self, n: int) -> None:
        self.targets = [i % 10 for i in range(n)]
        self.reads = 0

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        self.reads += 1
        rng = np.random.default_rng([3, i])
        k = 1500
        t = np.sort(rng.integers(0, 300_000, k))
        x, p, y = rng.integers(0, 34, k), rng.integers(0, 2, k), rng.integers(0, 34, k)
        return make_events(t, x, p, y=y), i % 10


def _nnz(ds: FrameDataset) -> list[int]:
    return [int(torch.count_nonzero(ds[i][0])) for i in range(len(ds))]


def test_memory_cache_holds_only_nonzeros_and_is_bounded():
    n = 30
    ref = FrameDataset(_Saccades(n), FrameConfig(n_time_bins=100, cache=None))
    nnz = _nnz(ref)
    assert all(0 < v <= 1500 for v in nnz)
    src = _Saccades(n)
    cached = FrameDataset(src, FrameConfig(n_time_bins=100))  # the default cache: "memory"
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        cached[i]  # fills the cache; the returned tensors are dropped
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # 4-byte index + 1-byte count per non-zero entry, plus the per-sample overhead
    assert cached.cache_nbytes == 5 * sum(nnz) + CACHE_ENTRY_OVERHEAD * n
    assert cached.cache_nbytes < n * 8000  # at most 1,500 entries per sample: <= 7.8 kB each
    # what the process really keeps (numpy reports its buffers to tracemalloc) is the same size,
    # 1/100 of the 27.7 MB that dense frames of these 30 samples would take
    assert retained <= 1.5 * cached.cache_nbytes + 64_000
    assert retained < n * DENSE_BYTES / 100
    # cache hits: no event read, same frames as without a cache
    assert src.reads == n
    for i in range(n):
        assert torch.equal(cached[i][0], ref[i][0])
    assert src.reads == n


def test_memory_cache_stops_at_its_limit_and_says_how_to_fix(caplog):
    n = 12
    ref = FrameDataset(_Saccades(n), FrameConfig(n_time_bins=100, cache=None))
    per_sample = [5 * v + CACHE_ENTRY_OVERHEAD for v in _nnz(ref)]
    limit = sum(per_sample[:4]) + 1  # room for exactly 4 samples
    src = _Saccades(n)
    ds = FrameDataset(src, FrameConfig(n_time_bins=100, cache_limit_mb=limit / 2**20))
    with caplog.at_level(logging.WARNING, logger="spikeenergy.data.frames"):
        for _ in range(2):
            for i in range(n):
                assert torch.equal(ds[i][0], ref[i][0])
    assert ds.cache_nbytes == sum(per_sample[:4]) <= limit
    assert src.reads == n + (n - 4)  # the 8 samples beyond the limit are binned again
    warnings = [r for r in caplog.records if "cache_limit_mb" in r.getMessage()]
    assert len(warnings) == 1
    assert "cache='disk'" in warnings[0].getMessage()
    with pytest.raises(ValueError, match="cache_limit_mb"):
        FrameConfig(cache_limit_mb=0)


def test_sparse_samples_through_the_compact_cache():
    ref = FrameDataset(_Saccades(3), FrameConfig(n_time_bins=20, sparse=True, cache=None))
    ds = FrameDataset(_Saccades(3), FrameConfig(n_time_bins=20, sparse=True))
    for _ in range(2):  # miss, then hit
        for i in range(3):
            x, y = ds[i]
            assert x.is_sparse
            assert x.is_coalesced()
            assert y == ref[i][1]
            assert torch.equal(x.indices(), ref[i][0].indices())
            assert torch.equal(x.values(), ref[i][0].values())


def test_cache_limit_is_not_part_of_the_binning_key():
    assert FrameConfig(cache_limit_mb=10).key() == FrameConfig(cache_limit_mb=None).key()


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([1.0, 2.0, 255.0], np.uint8),
        ([1.0, 300.0], np.uint16),
        ([70_000.0], np.float32),
        ([0.5, 1.0], np.float32),
        ([-1.0, 2.0], np.float32),
    ],
)
def test_values_are_stored_in_the_narrowest_exact_dtype(values, dtype):
    arr = np.asarray(values, dtype=np.float32)
    out = _narrowest_values(arr)
    assert out.dtype == dtype
    assert np.array_equal(out.astype(np.float32), arr)  # exact round trip
