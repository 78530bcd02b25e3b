"""mnist10k: IDX reading, seeded stratified split, rate and latency coding (fake files + real)."""

import collections
import gzip
import struct

import numpy as np
import pytest

from spikeenergy.data import DatasetNotFoundError, FrameConfig, FrameDataset, load_dataset
from spikeenergy.data.mnist10k import MNIST10k, read_idx

REAL_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


def write_idx(path, array, compress=True):
    """The MNIST IDX layout written by hand: 0x00 0x00, type 0x08 (ubyte), ndim, big-endian
    uint32 sizes, then the bytes (row-major)."""
    a = np.asarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, a.ndim]) + b"".join(struct.pack(">I", n) for n in a.shape)
    raw += a.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if compress else raw)


def fake_images(per_class=5):
    """Class c, copy j: one pixel of value 200 at row c, column j (sorted by class, like the
    real file), plus pixel (27, 27) = 255 in every image so no image is empty."""
    imgs, labels = [], []
    for c in range(10):
        for j in range(per_class):
            img = np.zeros((28, 28), np.uint8)
            img[c, j] = 200
            img[27, 27] = 255
            imgs.append(img)
            labels.append(c)
    return np.stack(imgs), np.asarray(labels)


@pytest.fixture
def root(tmp_path):
    imgs, labels = fake_images()
    write_idx(tmp_path / "mnist10k" / "images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "mnist10k" / "labels-idx1-ubyte.gz", labels)
    return tmp_path


def test_read_idx_gzipped_and_plain(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b", a, compress=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz", 3), a)
    assert np.array_equal(read_idx(tmp_path / "b", 3), a)


def test_split_is_stratified_disjoint_seeded_and_labels_match_images(root):
    train = load_dataset("mnist10k", "train", root=root)
    test = load_dataset("mnist10k", "test", root=root)
    # 50 images, 5 per class, test_fraction 0.2 -> 1 test and 4 train images per class
    assert (len(train), len(test)) == (40, 10)
    assert collections.Counter(train.targets) == {c: 4 for c in range(10)}
    assert sorted(test.targets) == list(range(10))
    assert not set(train.file_indices) & set(test.file_indices)
    for ds in (train, test):
        for i in range(len(ds)):
            img = ds.image(i)  # the digit-c pixel sits on row c: the label read is the image's
            assert img[ds.targets[i]].max() == pytest.approx(200 / 255)
    # the file is sorted by class; the split order is shuffled, so a prefix mixes classes
    assert len(set(train.targets[:10])) > 3
    again = load_dataset("mnist10k", "train", root=root)
    other = load_dataset("mnist10k", "train", root=root, split_seed=1)
    assert np.array_equal(again.file_indices, train.file_indices)
    assert not np.array_equal(other.file_indices, train.file_indices)
    assert len(load_dataset("mnist10k", "train", root=root, limit=7)) == 7


def test_events_fields_orientation_and_frames(root):
    ds = load_dataset("mnist10k", "test", root=root, encoding="latency", n_steps=5, dt_us=1000)
    i = ds.targets.index(3)
    ev, label = ds[i]
    assert label == 3
    assert ev.dtype.names is not None
    assert set(ev.dtype.names) == {"x", "y", "t", "p"}
    j = int(ds.file_indices[i]) % 5  # copy j of class 3: pixel (row 3, column j)
    # latency: 255 fires at step 0; 200/255 at round((1 - 0.784) * 4) = round(0.863) = step 1
    assert sorted(zip(ev["t"].tolist(), ev["y"].tolist(), ev["x"].tolist(), strict=True)) == [
        (0, 27, 27),
        (1000, 3, j),
    ]
    assert set(ev["p"].tolist()) == {1}
    frames, _ = FrameDataset(ds, FrameConfig(n_time_bins=5, duration_us=5000, cache=None))[i]
    assert frames.shape == (5, 1, 28, 28)
    assert frames[1, 0, 3, j] == 1
    assert frames[0, 0, 27, 27] == 1
    assert frames.sum() == 2


def test_latency_code_hand_computed(tmp_path):
    img = np.zeros((1, 28, 28), np.uint8)
    img[0, 0, :4] = [255, 128, 64, 1]  # 1/255 = 0.0039 < threshold 0.01: no spike
    write_idx(tmp_path / "mnist10k" / "images-idx3-ubyte.gz", np.repeat(img, 20, 0))
    write_idx(tmp_path / "mnist10k" / "labels-idx1-ubyte.gz", np.repeat(np.arange(10), 2))
    ds = MNIST10k(tmp_path, "train", encoding="latency", n_steps=5, test_fraction=0.5)
    spk = ds.spikes(0)
    # step = round((1 - I) * 4): 255 -> 0; 128 -> round(1.992) = 2; 64 -> round(2.996) = 3
    assert spk.sum() == 3
    assert [int(np.flatnonzero(spk[:, 0, c])[0]) for c in range(3)] == [0, 2, 3]


def test_rate_code_probability_and_seeding(tmp_path):
    img = np.zeros((20, 28, 28), np.uint8)
    img[:, 0, 0] = 255  # fires every step at gain 1
    img[:, 0, 1] = 102  # p = 0.4
    img[:, 0, 2] = 102  # p = min(1, 3 x 0.4) = 1 at gain 3
    write_idx(tmp_path / "mnist10k" / "images-idx3-ubyte.gz", img)
    write_idx(tmp_path / "mnist10k" / "labels-idx1-ubyte.gz", np.repeat(np.arange(10), 2))
    ds = MNIST10k(tmp_path, "train", n_steps=4000, test_fraction=0.5)
    spk = ds.spikes(0)
    assert spk[:, 0, 0].all()
    assert spk[:, 1:, :].sum() == 0
    assert spk[:, 0, 3:].sum() == 0
    # Binomial(4000, 0.4): mean 1600, sd sqrt(4000 * 0.4 * 0.6) = 31; allow 5 sd
    assert abs(int(spk[:, 0, 1].sum()) - 1600) < 5 * 31
    assert ds.spikes(0)[:, 0, 1].tolist() == spk[:, 0, 1].tolist()  # same seed, same draws
    other = MNIST10k(tmp_path, "train", n_steps=4000, test_fraction=0.5, seed=1)
    assert other.spikes(0)[:, 0, 1].tolist() != spk[:, 0, 1].tolist()
    assert (
        MNIST10k(tmp_path, "train", n_steps=50, gain=3.0, test_fraction=0.5)
        .spikes(0)[:, 0, 2]
        .all()
    )


def test_rate_events_depend_on_the_image_not_on_the_split(root):
    a = MNIST10k(root, "train", split_seed=0)
    b = MNIST10k(root, "train", split_seed=1)
    common = sorted(set(a.file_indices) & set(b.file_indices))[:3]
    assert common
    for f in common:
        ia = int(np.flatnonzero(a.file_indices == f)[0])
        ib = int(np.flatnonzero(b.file_indices == f)[0])
        assert np.array_equal(a.events(ia), b.events(ib))


def test_errors_name_the_problem(tmp_path, root):
    with pytest.raises(DatasetNotFoundError, match="mnist10k"):
        load_dataset("mnist10k", root=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="images-idx3-ubyte"):
        load_dataset("mnist10k", root=tmp_path / "empty")
    with pytest.raises(ValueError, match="encoding"):
        load_dataset("mnist10k", root=root, encoding="phase")
    with pytest.raises(ValueError, match="download"):
        load_dataset("mnist10k", root=root, download=True)
    bad = tmp_path / "bad"
    imgs, labels = fake_images()
    write_idx(bad / "mnist10k" / "labels-idx1-ubyte.gz", labels)
    raw = gzip.decompress((root / "mnist10k" / "images-idx3-ubyte.gz").read_bytes())
    (bad / "mnist10k" / "images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(ValueError, match="truncated"):
        load_dataset("mnist10k", root=bad)
    write_idx(bad / "mnist10k" / "images-idx3-ubyte.gz", imgs[:-1])
    with pytest.raises(ValueError, match="49 images but"):
        load_dataset("mnist10k", root=bad)
    write_idx(bad / "mnist10k" / "images-idx3-ubyte.gz", labels)  # 1-D file where 3-D expected
    with pytest.raises(ValueError, match="not an IDX file of 3-D"):
        load_dataset("mnist10k", root=bad)
    write_idx(bad / "mnist10k" / "images-idx3-ubyte.gz", imgs[:10])
    write_idx(bad / "mnist10k" / "labels-idx1-ubyte.gz", np.arange(10))  # one image per class
    with pytest.raises(ValueError, match="at least 2 images of every class"):
        load_dataset("mnist10k", root=bad)


def test_real_mnist10k(shared_data):
    if not (shared_data / "mnist10k").is_dir():
        pytest.skip("mnist10k not in the shared data")
    labels = read_idx(shared_data / "mnist10k" / "labels-idx1-ubyte.gz", 1)
    assert np.bincount(labels).tolist() == REAL_COUNTS
    assert np.all(np.diff(labels.astype(int)) >= 0)  # sorted by class, as the README says
    train = load_dataset("mnist10k", "train", root=shared_data)
    test = load_dataset("mnist10k", "test", root=shared_data)
    assert (len(train), len(test)) == (8000, 2000)
    # stratified: every class within one image of 20 % of its count in the test split
    for c, n in enumerate(REAL_COUNTS):
        assert abs(collections.Counter(test.targets)[c] - 0.2 * n) <= 1
    img = test.image(0)
    # an MNIST digit: dark, some white
    assert 0.05 < img.mean() < 0.4
    assert img.max() == 1.0
    ev, _ = test[0]
    # rate coding at gain 1: expected events = n_steps x sum of intensities (within 5 sd)
    mean = 20 * img.sum()
    assert abs(len(ev) - mean) < 5 * np.sqrt(mean)
