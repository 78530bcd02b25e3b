"""One-pass classifiers: hand-computed energies, limits of beta, Hebbian rule, spiking identity."""

import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from spikeenergy.dynamics import modern_hopfield_energy
from spikeenergy.energy import COUNTS
from spikeenergy.onepass import (
    CountEncoder,
    DenseMemoryClassifier,
    RandomSpikingEncoder,
    SpikingPrototypeClassifier,
)


def test_dam_energy_hand_computed():
    # stored (no centring): class 0 -> e1 = (1, 0) and (0, 1); class 1 -> (-1, 0)
    clf = DenseMemoryClassifier(beta=2.0, center=False)
    clf.fit(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]), torch.tensor([0, 0, 1]))
    e = clf.energy(torch.tensor([[3.0, 0.0]]))  # normalised query (1, 0)
    # class 0: sims (1, 0): -(1/2) log(e^2 + e^0) + log(2)/2
    e0 = -0.5 * math.log(math.exp(2) + 1) + 0.5 * math.log(2)
    # class 1: sim -1: -(1/2) log(e^-2) + log(1)/2 = 1
    assert e[0, 0].item() == pytest.approx(e0, abs=1e-6)
    assert e[0, 1].item() == pytest.approx(1.0, abs=1e-6)
    assert clf.predict(torch.tensor([[3.0, 0.0], [-1.0, 0.1]])).tolist() == [0, 1]


def test_dam_matches_modern_hopfield_energy_up_to_class_constants():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 5, generator=g)
    y = torch.tensor([0, 1, 2] * 4)
    q = torch.randn(4, 5, generator=g)
    beta = 3.0
    clf = DenseMemoryClassifier(beta=beta, center=False)
    clf.fit(x, y)
    ours = clf.energy(q)
    qn = q / q.norm(dim=1, keepdim=True)
    for c in range(3):
        mem = x[y == c] / x[y == c].norm(dim=1, keepdim=True)
        ref = modern_hopfield_energy(qn.double(), mem.double(), beta)
        # Ramsauer: -lse/beta + |q|^2/2 + log(P)/beta + M^2/2 with |q| = M = 1 -> ours + 1
        assert torch.allclose(ours[:, c].double() + 1.0, ref, atol=1e-5)


def test_dam_beta_limits_are_1nn_and_class_mean():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(30, 8)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 3, size=30))
    q = torch.tensor(rng.normal(size=(50, 8)), dtype=torch.float32)
    # beta -> inf: nearest neighbour by cosine (centred features) = sklearn 1-NN, metric cosine
    big = DenseMemoryClassifier(beta=1e4)
    big.fit(x, y)
    mean = x.mean(0)
    knn = KNeighborsClassifier(n_neighbors=1, metric="cosine").fit((x - mean).numpy(), y.numpy())
    assert big.predict(q).tolist() == knn.predict((q - mean).numpy()).tolist()
    # beta -> 0: lowest -mean similarity = highest dot with the class mean of unit vectors
    small = DenseMemoryClassifier(beta=1e-4)
    small.fit(x, y)
    xn = (x - mean) / (x - mean).norm(dim=1, keepdim=True)
    qn = (q - mean) / (q - mean).norm(dim=1, keepdim=True)
    protos = torch.stack([xn[y == c].mean(0) for c in range(3)])
    assert small.predict(q).tolist() == (qn @ protos.T).argmax(1).tolist()


def test_dam_errors():
    with pytest.raises(ValueError, match="beta"):
        DenseMemoryClassifier(beta=0.0)
    with pytest.raises(ValueError, match="fit"):
        DenseMemoryClassifier().predict(torch.ones(1, 2))


def test_count_encoder_ops_and_opcounts_names():
    x = torch.zeros(2, 1, 3)  # (T=2, B=1, F=3) with 3 events in total
    x[0, 0, 0] = 1
    x[1, 0, 1] = 2
    feats, ops = CountEncoder().encode(x)
    assert feats.tolist() == [[1.0, 2.0, 0.0]]
    # one accumulate per event, executed on every target: dense = executed
    assert ops.acs == 3.0
    assert ops.dense_ops == 3.0
    assert ops.macs == 0.0
    assert set(ops.as_counts()) == set(COUNTS)  # priced only by CostModel.price
    assert (ops + ops).scaled(0.5) == ops


def test_random_encoder_ledger_counts_hand_computed():
    enc = RandomSpikingEncoder(3, hidden=4, seed=0)  # snnTorch Leaky, beta 0.9, threshold 1
    w = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.3, 0.0], [0.5, 0.5, 0.0], [-1.0, 0.0, 0.0]])
    with torch.no_grad():
        enc.fc.weight.copy_(w)  # effective fan-out: input 0 -> 3 synapses, 1 -> 2, 2 -> 0
    x = torch.zeros(2, 1, 3)  # (T=2, B=1, F=3)
    x[0, 0, 0] = 1.0  # step 0: binary input -> accumulates
    x[1, 0, 1] = 2.0  # step 1: an event count of 2 -> graded input (multiply-accumulates)
    feats, ops = enc.encode(x)
    # step 0: currents (2, 0, 0.5, -1) -> neuron 0 fires (2 > 1)
    # step 1: currents (0, 0.6, 1.0, 0); membranes: n0 0.9*2 - 1 (reset) = 0.8, n1 0.6,
    #         n2 0.9*0.5 + 1.0 = 1.45 -> fires, n3 -0.9
    assert feats.tolist() == [[1.0, 0.0, 1.0, 0.0]]
    assert ops.acs == 1 * 3  # one binary input x its 3 existing synapses
    assert ops.macs == 1 * 2  # one graded input x its 2 existing synapses
    assert ops.graded_events == 2 * 2  # |input| 2 x 2 synapses
    assert ops.dense_ops == 2 * 3 * 4  # T x F x H, zeros included
    # T x H, 1 word (Leaky)
    assert ops.neuron_updates == 2 * 4
    assert ops.state_words == 2 * 4
    assert ops.spikes == 2
    assert ops.active_updates == 2
    same = RandomSpikingEncoder(3, hidden=4, seed=0)
    assert torch.equal(RandomSpikingEncoder(3, hidden=4, seed=0).base_weight, same.base_weight)


def test_calibration_sets_current_std_and_folds_the_gain():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(6, 20, 10, generator=g) < 0.3).float()
    enc = RandomSpikingEncoder(10, hidden=32, seed=1, target_std=1.5).calibrate(x)
    with torch.no_grad():
        cur = enc.fc(x)  # the frozen Linear holds gain x W0
    assert float(cur.std()) == pytest.approx(1.5, rel=1e-4)  # target_std x threshold (1.0)
    assert torch.allclose(enc.fc.weight, enc.gain * enc.base_weight)
    assert not enc.fc.weight.requires_grad


def _streams(n_per_class, seed):
    """Two classes of (T=8, N, 12) event streams: class c fires mostly on inputs 6c..6c+5."""
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor([i % 2 for i in range(2 * n_per_class)])
    x = (torch.rand(8, len(y), 12, generator=g) < 0.05).float()
    for i, c in enumerate(y.tolist()):
        x[:, i, 6 * c : 6 * c + 6] += (torch.rand(8, 6, generator=g) < 0.5).float()
    return x, y


def test_hebbian_rule_matches_numpy_and_classifies():
    x, y = _streams(5, 0)
    enc = RandomSpikingEncoder(12, hidden=64, seed=0).calibrate(x)
    clf = SpikingPrototypeClassifier(enc)
    clf.fit(x, y)
    # independent numpy version of the rule in docs/onepass.md
    r = enc.spikes(x).sum(0).numpy()
    rh = r / np.linalg.norm(r, axis=1, keepdims=True)
    w = np.stack([rh[y.numpy() == c].mean(0) for c in (0, 1)])
    w = w - w.mean(0, keepdims=True)
    w = w / np.linalg.norm(w, axis=1, keepdims=True)
    assert np.allclose(clf.weight.numpy(), w, atol=1e-5)
    xt, yt = _streams(20, 1)
    assert float((clf.predict(xt) == yt).float().mean()) >= 0.95


@pytest.mark.parametrize(("backend", "tol"), [("snntorch", 1e-4), ("norse", 0.05)])
def test_spiking_scores_equal_total_drive(backend, tol):
    # with subtractive reset and no leak: theta * (resets + membrane / theta) = sum_t W s[t]
    x, y = _streams(5, 2)
    enc = RandomSpikingEncoder(12, hidden=64, seed=0, backend=backend).calibrate(x)
    clf = SpikingPrototypeClassifier(enc, backend=backend)
    clf.fit(x, y)
    out, _, hidden = clf.detector_spikes(x)
    drive = hidden.sum(0) @ clf.weight.T
    assert out.sum() > 0  # the detectors do spike
    assert torch.allclose(clf.scores(x) * clf.threshold, drive, atol=tol * float(drive.abs().max()))


def test_hebbian_ledger_counts_equal_hand_count():
    # per sample: encoder synapses (binary inputs x existing fan-out) + detector synapses (hidden
    # spikes x existing fan-out), one update per neuron and step, every spike
    x, y = _streams(4, 3)
    x = x.clamp(max=1.0)  # binary streams (_streams can stack two events in one bin)
    enc = RandomSpikingEncoder(12, hidden=16, seed=0).calibrate(x)
    clf = SpikingPrototypeClassifier(enc)
    clf.fit(x, y)
    with torch.no_grad():
        clf.detectors.weight[0, :5] = 0.0  # pruned detector synapses are not counted
    pred, ops = clf.predict_with_ops(x)
    out, _, hidden = clf.detector_spikes(x)
    t, b = x.shape[:2]
    fan_in = (enc.fc.weight != 0).sum(0).double()  # (12,) synapses per input
    fan_hidden = (clf.weight != 0).sum(0).double()  # (16,) synapses per hidden neuron
    acs = float((x.double() * fan_in).sum() + (hidden.double() * fan_hidden).sum()) / b
    assert ops.acs == pytest.approx(acs)
    assert ops.macs == 0.0  # binary streams
    assert ops.dense_ops == pytest.approx(t * (12 * 16 + 16 * 2))
    assert ops.neuron_updates == t * (16 + 2)
    assert ops.spikes == pytest.approx(float(hidden.sum() + out.sum()) / b)
    assert torch.equal(pred, clf.predict(x))
