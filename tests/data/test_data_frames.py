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
    assert frames.shape == (2, 2, 3, 4)
    assert frames.dtype == np.float32
    # first bin: ON at (0,0), OFF (1,0)
    assert frames[0, 1, 0, 0] == 1
    assert frames[0, 0, 0, 1] == 1
    assert frames[1, 1, 2, 1] == 2  # second bin: two ON events at x=1, y=2
    binary = EventsToFrames((4, 3, 2), FrameConfig(n_time_bins=2, binarize=True))(ev)
    assert binary.max() == 1


def test_empty_stream_gives_zero_frames_not_a_crash():
    empty = make_events(np.zeros(0), np.zeros(0), np.zeros(0), y=np.zeros(0))
    frames = EventsToFrames((34, 34, 2), FrameConfig(n_time_bins=5))(empty)
    assert frames.shape == (5, 2, 34, 34)
    assert frames.sum() == 0
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
    assert frames.shape == (1, 2, 17, 17)
    assert frames[0, 1, 16, 16] == 1


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
    assert torch.equal(fresh[2][0], x_disk)
    assert fresh.events.reads == 0


def test_collation_is_time_major_and_pads():
    batch = [(torch.ones(3, 2, 4), 1), (torch.ones(5, 2, 4) * 2, 0)]
    x, y = collate_time_major(batch)
    assert x.shape == (5, 2, 2, 4)
    assert y.tolist() == [1, 0]
    assert x[3:, 0].sum() == 0
    assert x[:, 1].sum() == 2 * 5 * 8


def test_loader_shuffle_is_seeded():
    fd = FrameDataset(_Counting(8), FrameConfig(n_time_bins=2))
    order = [make_loader(fd, 4, shuffle=True, seed=s) for s in (1, 1, 2)]
    labels = [[tuple(y.tolist()) for _, y in ld] for ld in order]
    xs = [torch.cat([x.sum(dim=(0, 2, 3, 4)) for x, _ in ld]) for ld in order]
    assert labels[0] == labels[1]
    assert torch.equal(xs[0], xs[1])
    assert not torch.equal(xs[0], xs[2])


def test_fixed_origin_puts_an_event_at_t0_plus_k_bins_in_bin_k():
    # window [5000, 15000) us in 10 bins of 1000 us: an event at 5000 + k*1000 (bin start) and
    # one at 5000 + k*1000 + 999 (bin end) both land in bin k, channel x = k
    cfg = FrameConfig(n_time_bins=10, t_start_us=5000, duration_us=10_000)
    k = np.arange(10)
    t = np.concatenate([5000 + 1000 * k, 5000 + 1000 * k + 999])
    ev = make_events(t, np.concatenate([k, k]), np.ones(20, np.int64))
    frames = EventsToFrames((10, 1, 2), cfg)(ev)
    assert frames.shape == (10, 2, 10)
    expected = np.zeros((10, 2, 10), np.float32)
    expected[k, 1, k] = 2
    np.testing.assert_array_equal(frames, expected)


def test_fixed_origin_does_not_shift_or_stretch_a_sample():
    # one event at 5000 + 3*1000: the fixed window puts it in bin 3 whatever else the sample
    # holds; per-sample binning starts at the first event and puts it in bin 0
    one = make_events(np.array([8000]), np.array([0]), np.array([1]))
    fixed = FrameConfig(n_time_bins=10, t_start_us=5000, duration_us=10_000)
    assert EventsToFrames((4, 1, 2), fixed)(one)[:, 1, 0].tolist() == [0, 0, 0, 1] + [0] * 6
    assert EventsToFrames((4, 1, 2), FrameConfig(n_time_bins=10))(one)[0, 1, 0] == 1
    # a second event later in the window does not move the first one (no stretching)
    two = make_events(np.array([8000, 14_500]), np.array([0, 1]), np.array([1, 0]))
    f2 = EventsToFrames((4, 1, 2), fixed)(two)
    assert f2[3, 1, 0] == 1
    assert f2[9, 0, 1] == 1
    assert f2.sum() == 2


def test_fixed_window_with_a_time_window_gives_ceil_duration_over_window_bins():
    # duration 2500 us in windows of 1000 us: ceil(2.5) = 3 bins, the last one partial
    cfg = FrameConfig(n_time_bins=None, time_window_us=1000, duration_us=2500)
    ev = make_events(np.array([0, 999, 1000, 2499]), np.array([0, 0, 1, 2]), np.ones(4, np.int64))
    frames = EventsToFrames((3, 1, 2), cfg)(ev)
    assert frames.shape == (3, 2, 3)
    assert frames[0, 1, 0] == 2
    assert frames[1, 1, 1] == 1
    assert frames[2, 1, 2] == 1
    empty = make_events(np.zeros(0), np.zeros(0), np.zeros(0))
    assert EventsToFrames((3, 1, 2), cfg)(empty).shape == (3, 2, 3)


def test_fixed_window_agrees_with_tonic_binning_where_the_windows_coincide():
    # per-sample binning of a sample whose first event is at 0 and last at n*w - 1 uses windows
    # [k*w, (k+1)*w) (Tonic's ToFrame): the fixed window [0, n*w) must give the same frames,
    # for a 2-D sensor with both polarities and spatial downsampling
    rng = np.random.default_rng(0)
    n, w = 8, 500
    t = np.sort(np.concatenate([[0, n * w - 1], rng.integers(0, n * w, 300)]))
    ev = make_events(
        t, rng.integers(0, 34, t.size), rng.integers(0, 2, t.size), y=rng.integers(0, 34, t.size)
    )
    for down in (None, 0.5):
        per_sample = EventsToFrames((34, 34, 2), FrameConfig(n_time_bins=n, downsample=down))(ev)
        fixed_cfg = FrameConfig(n_time_bins=n, downsample=down, duration_us=n * w)
        np.testing.assert_array_equal(EventsToFrames((34, 34, 2), fixed_cfg)(ev), per_sample)


def test_events_outside_the_fixed_window_raise_and_name_the_fix():
    cfg = FrameConfig(n_time_bins=4, t_start_us=1000, duration_us=4000)
    for t in ([999, 2000], [1000, 5000]):
        ev = make_events(np.array(t), np.array([0, 0]), np.array([1, 1]))
        with pytest.raises(ValueError, match=r"outside the fixed frame window \[1000, 5000\)"):
            EventsToFrames((2, 1, 2), cfg)(ev)


def test_fixed_window_options_are_validated_and_keep_old_cache_keys():
    with pytest.raises(ValueError, match="t_start_us=5.0 needs duration_us"):
        FrameConfig(t_start_us=5.0)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="duration_us must be finite and > 0"):
            FrameConfig(duration_us=bad)
    with pytest.raises(ValueError, match="time_window_us must be finite and > 0"):
        FrameConfig(n_time_bins=None, time_window_us=0.0)
    # keys computed by the code before the option existed: disk caches stay valid
    assert FrameConfig().key() == "8c576e030230"
    assert FrameConfig(n_time_bins=3, downsample=0.5).key() == "d2341d694645"
    assert FrameConfig(n_time_bins=None, time_window_us=1000.0, sparse=True).key() == "34a9735ce81e"
    fixed = FrameConfig(duration_us=1e6)
    assert fixed.key() != FrameConfig().key()
    assert FrameConfig(duration_us=1e6, t_start_us=10).key() != fixed.key()
