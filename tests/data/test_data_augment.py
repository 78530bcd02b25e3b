"""Frame augmentation: hand-checked shifts, dense == sparse, seeded, train split only."""

from __future__ import annotations

import pytest
import torch

from spikeenergy.data.augment import AugmentedDataset, RandomShift, shift_frames
from spikeenergy.train import DataConfig, prepare_data


def test_shift_moves_events_and_zero_fills():
    x = torch.zeros(2, 1, 4, 5)
    x[0, 0, 1, 1] = 1.0  # event at row 1, col 1
    x[1, 0, 3, 4] = 2.0  # corner event: falls off when moved down/right
    y = shift_frames(x, 1, 2)
    assert y[0, 0, 2, 3] == 1.0  # moved 1 down, 2 right
    assert y.sum() == 1.0  # the corner event left the frame, nothing wrapped around
    back = shift_frames(x, -1, -1)
    assert back[0, 0, 0, 0] == 1.0
    assert back[1, 0, 2, 3] == 2.0
    assert back.sum() == 3.0
    assert torch.equal(shift_frames(x, 0, 0), x)
    assert shift_frames(x, 4, 0).sum() == 0  # a shift by the full height empties the frame


@pytest.mark.parametrize(("dy", "dx"), [(1, 2), (-2, 1), (0, -3), (3, 3)])
def test_sparse_shift_equals_dense(dy, dx):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 2, 6, 7, generator=g) < 0.2).float()
    sparse = shift_frames(x.to_sparse(), dy, dx)
    assert sparse.is_sparse
    assert torch.equal(sparse.to_dense(), shift_frames(x, dy, dx))


def test_one_d_frames_are_refused():
    with pytest.raises(ValueError, match="2-D frames"):
        shift_frames(torch.zeros(3, 2, 8), 1, 0)


def test_random_shift_is_seeded_and_bounded():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    a, b = RandomShift(2, seed=3), RandomShift(2, seed=3)
    for _ in range(20):
        ya, yb = a(x), b(x)
        assert torch.equal(ya, yb)
        r, c = (ya[0, 0] == 1).nonzero()[0].tolist()
        assert abs(r - 4) <= 2
        assert abs(c - 4) <= 2
    assert torch.equal(RandomShift(0)(x), x)
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(-1)


def test_prepare_data_augments_the_training_split_only():
    cfg = DataConfig(train_per_class=3, test_per_class=2, val_fraction=0.3, augment_shift=2)
    data = prepare_data(cfg, seed=0)
    assert isinstance(data.train, AugmentedDataset)
    assert not isinstance(data.val, AugmentedDataset)
    inner = data.train.dataset
    assert list(data.train.targets) == [inner[i][1] for i in range(len(inner))]
    plain = prepare_data(DataConfig(train_per_class=3, test_per_class=2, val_fraction=0.3), 0)
    x_aug, y_aug = data.train[0]
    x_plain, y_plain = plain.train[0]
    assert y_aug == y_plain
    assert x_aug.shape == x_plain.shape
    assert x_aug.sum() <= x_plain.sum()  # events only move or fall off the edge
    with pytest.raises(ValueError, match="augment_shift"):
        DataConfig(augment_shift=-1)
    emg = DataConfig(name="emg-roshambo", augment_shift=1)
    assert emg.augment_shift == 1  # 1-D datasets are refused when the data is prepared
