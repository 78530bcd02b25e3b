import numpy as np
import pytest
import torch

from spikeenergy.data import (
    EventsToFrames,
    FrameConfig,
    FrameDataset,
    collate_time_major,
    make_events,
    make_loader,
    validate_events,
)


class _Counting:
    """A tiny event dataset that counts how often samples are read."""

    sensor_size = (4, 4, 2)
    classes = ["a", "b"]

    def __init__(self, n: int = 6):
        self.targets = [i % 2 for i in range(n)]
        self.reads = 0

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        self.reads += 1
        t = np.arange(i + 1) * 100
        return make_events(t, np.full(i + 1, i % 4), np.ones(i + 1), y=np.zeros(i + 1)), i % 2


def test_frames_count_events_per_bin():
    ev = make_events(
        np.array([0, 10, 90, 99]),
        np.array([0, 1, 1, 1]),
        np.array([1, 0, 1, 1]),
        y=np.array([0, 0, 2, 2]),
    )
    frames = EventsToFrames((4, 3, 2), FrameConfig(n_time_bins=2))(ev)
    assert frames.shape == (2, 2, 3, 4) and frames.dtype == np.float32
    assert frames[0, 1, 0, 0] == 1 and frames[0, 0, 0, 1] == 1  # first bin: ON at (0,0), OFF (1,0)
    assert frames[1, 1, 2, 1] == 2  # second bin: two ON events at x=1, y=2
    binary = EventsToFrames((4, 3, 2), FrameConfig(n_time_bins=2, binarize=True))(ev)
    assert binary.max() == 1


def test_empty_stream_gives_zero_frames_not_a_crash():
    empty = make_events(np.zeros(0), np.zeros(0), np.zeros(0), y=np.zeros(0))
    frames = EventsToFrames((34, 34, 2), FrameConfig(n_time_bins=5))(empty)
    assert frames.shape == (5, 2, 34, 34) and frames.sum() == 0
    one = EventsToFrames((8, 1, 2), FrameConfig(n_time_bins=None, time_window_us=1000))(
        make_events(np.zeros(0), np.zeros(0), np.zeros(0))
    )
    assert one.shape == (1, 2, 8)


def test_frame_config_validation_names_parameters():
    with pytest.raises(ValueError, match="exactly one of n_time_bins and time_window_us"):
        FrameConfig(n_time_bins=None)
    with pytest.raises(ValueError, match="downsample"):
        FrameConfig(downsample=2.0)


def test_events_outside_sensor_are_rejected():
    ev = make_events(np.array([0]), np.array([40]), np.array([1]), y=np.array([0]))
    with pytest.raises(ValueError, match="field 'x' spans \\[40, 40\\], outside sensor size 34"):
        validate_events(ev, (34, 34, 2))


def test_downsample_shrinks_frames():
    ev = make_events(np.array([0, 1]), np.array([33, 0]), np.array([1, 1]), y=np.array([33, 0]))
    frames = EventsToFrames((34, 34, 2), FrameConfig(n_time_bins=1, downsample=0.5))(ev)
    assert frames.shape == (1, 2, 17, 17) and frames[0, 1, 16, 16] == 1


def test_memory_cache_bins_each_sample_once_and_disk_cache_persists(tmp_path):
    src = _Counting()
    fd = FrameDataset(src, FrameConfig(n_time_bins=3))
    first = [fd[i][0] for i in range(len(fd))]
    second = [fd[i][0] for i in range(len(fd))]
    assert src.reads == len(src)  # epoch two came from the cache
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    disk_cfg = FrameConfig(n_time_bins=3, cache="disk", cache_dir=str(tmp_path))
    src2 = _Counting()
    with pytest.raises(ValueError, match="cache_key"):
        FrameDataset(src2, disk_cfg)
    fd2 = FrameDataset(src2, disk_cfg, cache_key="counting-train")
    x_disk = fd2[2][0]
    fresh = FrameDataset(_Counting(), disk_cfg, cache_key="counting-train")
    assert torch.equal(fresh[2][0], x_disk) and fresh.events.reads == 0


def test_collation_is_time_major_and_pads():
    batch = [(torch.ones(3, 2, 4), 1), (torch.ones(5, 2, 4) * 2, 0)]
    x, y = collate_time_major(batch)
    assert x.shape == (5, 2, 2, 4) and y.tolist() == [1, 0]
    assert x[3:, 0].sum() == 0 and x[:, 1].sum() == 2 * 5 * 8


def test_loader_shuffle_is_seeded():
    fd = FrameDataset(_Counting(8), FrameConfig(n_time_bins=2))
    order = [make_loader(fd, 4, shuffle=True, seed=s) for s in (1, 1, 2)]
    labels = [[tuple(y.tolist()) for _, y in ld] for ld in order]
    xs = [torch.cat([x.sum(dim=(0, 2, 3, 4)) for x, _ in ld]) for ld in order]
    assert labels[0] == labels[1] and torch.equal(xs[0], xs[1])
    assert not torch.equal(xs[0], xs[2])
