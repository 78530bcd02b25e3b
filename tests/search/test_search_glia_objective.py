"""Glial gating wrapper, search space, suite files, and the architecture objective end to end."""

import math
from pathlib import Path

import optuna
import pytest
import torch
from toyframes import ToyFrames

from spikeenergy.models import ModelSpec, build_model
from spikeenergy.models.glia import GlialGate, GlialGating
from spikeenergy.search import (
    ArchitectureObjective,
    SearchConfig,
    SearchSpace,
    candidate_from_params,
    load_suite,
    open_study,
    run_search,
    write_outputs,
)
from spikeenergy.train import DataConfig, PreparedData, TrainConfig, evaluate

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(family="snn-mlp", hidden=(6, 4), backend="snntorch", engine="library"),
        ModelSpec(family="snn-mlp", hidden=(6,), backend="norse", engine="library"),
        ModelSpec(family="mlp", hidden=(5,), time_mode="per_step"),
    ],
)
def test_glia_is_identity_at_init_and_learns(spec):
    torch.manual_seed(0)
    model = build_model(spec, (3,), 2)
    x = (torch.rand(5, 4, 3) < 0.6).float() * 2.0  # (T, B, F)
    bare = model(x).detach()
    wrapped = GlialGating(model, ratio=0.5)
    # weight w = 0 -> every gain is 2 * sigmoid(0) = 1 -> same logits as the bare model
    assert torch.allclose(wrapped(x), bare)
    with torch.no_grad():
        for g in wrapped.gates:
            g.weight.fill_(3.0)
    assert not torch.allclose(wrapped(x), bare)
    wrapped(x).sum().backward()
    assert any(float(g.weight.grad.abs().sum()) > 0 for g in wrapped.gates)


def test_glial_gate_hand_computed_update():
    gate = GlialGate(width=4, ratio=0.5, rho=0.9, target=0.1)
    assert gate.n_glia == 2
    assert gate.assign.tolist() == [0, 1, 0, 1]
    gate.observe(torch.tensor([[1.0, 0.0, 1.0, 1.0]]))
    # unit 0 sees neurons 0, 2 -> mean 1; unit 1 sees 1, 3 -> mean 0.5
    # avg = 0.9 * 0.1 + 0.1 * [1, 0.5] = [0.19, 0.14]
    assert torch.allclose(gate.avg, torch.tensor([[0.19, 0.14]]))
    with torch.no_grad():
        gate.weight.fill_(1.0)
    g = gate.gains(1)
    expect = [2 / (1 + math.exp(0.09)), 2 / (1 + math.exp(0.04))]  # 2 sigmoid(0.1 - avg)
    assert torch.allclose(g, torch.tensor([[expect[0], expect[1], expect[0], expect[1]]]))


def test_glia_ops_are_counted_by_the_ledger():
    # snn 3 -> 4 hidden (library engine), 2 glial units (ratio 0.5), T = 5, B = 2
    from spikeenergy.energy import EnergyLedger
    from spikeenergy.record import ActivityRecorder

    torch.manual_seed(0)
    model = build_model(ModelSpec(family="snn-mlp", hidden=(4,), engine="library"), (3,), 2)
    wrapped = GlialGating(model, ratio=0.5)
    with torch.no_grad():  # non-zero w: graded gains (at w = 0 every gain is exactly 1)
        wrapped.gates[0].weight.fill_(1.0)
    x = (torch.rand(5, 2, 3) < 0.7).float() * 3.0
    with ActivityRecorder(wrapped, needs={"inputs", "spikes", "activations"}) as rec:
        wrapped(x)
        record = rec.record()
    spikes = record["model.fc_spk.0"].spikes
    ledger = EnergyLedger()
    ledger.update(record)
    glia = ledger.counts()["gates.0"]
    # each hidden spike reaches its one glial unit (ACs); each step each of the 4 neurons'
    # currents is multiplied by its unit's gain: at step 0 the average equals the target, so
    # every gain is exactly 1 (binary: 4 ACs); steps 1-4 have graded gains: 4 x 4 = 16 MACs
    assert glia["acs"] == pytest.approx(float(spikes.detach().sum()) / 2 + 4)
    assert glia["macs"] == pytest.approx(4 * 4)
    # the 2 glial units update every step: 5 x 2
    assert glia["neuron_updates"] == pytest.approx(5 * 2)
    # unwrap removes every hook: the bare model runs its fast path again when it can
    bare = wrapped.unwrap()
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in bare.modules())


def test_glia_rejects_bad_ratio_and_models():
    with pytest.raises(ValueError, match="ratio"):
        GlialGate(4, 0.0)
    with pytest.raises(TypeError, match="fully connected"):
        GlialGating(torch.nn.Linear(2, 2), 0.5)
    fast = build_model(ModelSpec(family="snn-mlp", hidden=(4,), engine="fast"), (3,), 2)
    with pytest.raises(ValueError, match="engine='library'"):  # no silent engine switch
        GlialGating(fast, 0.5)


def test_candidate_from_params():
    params = {
        "family": "snn-mlp:norse",
        "depth": 1,
        "width_0": 32,
        "width_1": 64,
        "tau_mem": 10.0,
        "threshold": 1.5,
        "lam": 0.1,
        "glia_ratio": 0.25,
    }
    c = candidate_from_params(params, SearchSpace())
    assert c.spec.family == "snn-mlp"
    assert c.spec.backend == "norse"
    assert c.spec.hidden == (32,)  # depth 1 uses only width_0
    assert c.spec.neuron.beta == pytest.approx(math.exp(-0.1))  # exp(-1 / tau)
    assert c.spec.neuron.threshold == 1.5
    assert c.lam == 0.1
    assert c.glia_ratio == 0.25


def test_shipped_suites_parse_and_typos_fail(tmp_path):
    from spikeenergy.resources import search_suites_dir, shipped_names

    names = shipped_names(search_suites_dir())
    assert {"smoke", "nmnist-small", "roshambo-small"} <= set(names)
    for name in names:
        cfg = load_suite(name)  # by name: the suites shipped inside the package
        assert cfg.n_trials >= 1
        assert cfg.data.val_fraction > 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[space]\nwidth = [1]\n")
    with pytest.raises(ValueError, match="unknown \\[space\\] keys"):
        load_suite(bad)


def Toy(n: int, seed: int) -> ToyFrames:  # noqa: N802 - reads like the dataset class
    """The shared toy frames (tests/toyframes.py) with sparser noise."""
    return ToyFrames(n, seed, noise=0.1)


def test_ledger_counts_every_synapse_of_a_dense_mlp():
    # the search prices the ledger's counts: (6*7 + 7*5 + 5*2) = 87 synapses per frame,
    # x 4 frames = 348 dense ops per inference
    model = build_model(ModelSpec(family="mlp", hidden=(7, 5), time_mode="per_step"), (6,), 2)
    from spikeenergy.energy import ActivityEnergy

    ev = evaluate(model, Toy(8, 0), ActivityEnergy(), TrainConfig(device="cpu"))
    assert ev["ledger"].total()["dense_ops"] == pytest.approx(348.0)


def test_architecture_objective_end_to_end(tmp_path):
    data = PreparedData(Toy(48, 0), Toy(16, 1), Toy(16, 2), (6,), 2)
    space = SearchSpace(widths=(4, 8), depth=(1, 2), glia_ratio=(0.0, 0.5))
    cfg = SearchConfig(
        name="toy",
        data=DataConfig(name="toy"),
        train=TrainConfig(epochs=2, batch_size=16, device="cpu", schedule="none"),
        space=space,
        population_size=4,
    )
    objective = ArchitectureObjective(cfg, data=data, store_dir=tmp_path / "store")
    study = open_study("toy", optuna.storages.InMemoryStorage(), seed=0, population_size=4)
    run_search(study, objective, n_trials=4)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) + len([t for t in study.trials if t.state.name == "PRUNED"]) == 4
    for t in done:
        acc, e = t.values
        assert 0 <= acc <= 1
        assert e > 0
        assert "epoch_0" in t.user_attrs
        assert "candidate" in t.user_attrs
    paths = write_outputs(study, tmp_path, space)
    for p in paths.values():
        assert p.exists()
        assert p.stat().st_size > 0
    import pandas as pd

    front = pd.read_csv(paths["front"])
    assert len(front) == len(study.best_trials)
    # every finished trial is also a benchmark run record with the same test accuracy
    from spikeenergy.bench import ResultsStore, write_report

    table = ResultsStore(tmp_path / "store").consolidate().set_index("run_id")
    assert len(table) == len(done)
    for t in done:
        row = table.loc[f"trial-{t.number:05d}"]
        assert row["status"] == "ok"
        assert row["dataset"] == "toy"
        assert row["accuracy"] == pytest.approx(t.user_attrs["test_accuracy"])
        assert row["lam"] == pytest.approx(t.user_attrs["candidate"]["lam"])
    assert "Pareto" in write_report(tmp_path / "store").read_text()


def test_dense_objective_energy_is_the_hand_counted_synapses_priced(tmp_path):
    # a space of one dense candidate (mlp 6 -> 4 -> 2 on 4 frames of 6 features), no glia,
    # time_mode "sum" (the network runs once on the time-summed frames): the ledger of a dense
    # MLP charges every synapse of that one pass, so the objective's energy must be the price
    # of 6*4 + 4*2 = 32 dense operations per inference, counted here by hand, on the suite's
    # target, and every target's energy is that target's price
    from spikeenergy.energy.cost_models import cost_model_registry, get_cost_model

    data = PreparedData(Toy(32, 0), Toy(16, 1), Toy(16, 2), (6,), 2)
    space = SearchSpace(
        families=("mlp",),
        widths=(4,),
        depth=(1, 1),
        lam=(0.0,),
        glia_ratio=(0.0,),
        dense_time_mode="sum",
    )
    cfg = SearchConfig(
        name="dense",
        data=DataConfig(name="toy"),
        space=space,
        target="cmos45",
        train=TrainConfig(epochs=1, batch_size=16, device="cpu", schedule="none"),
        population_size=2,
    )
    study = open_study("dense", optuna.storages.InMemoryStorage(), seed=0, population_size=2)
    run_search(study, ArchitectureObjective(cfg, data=data), n_trials=1)
    (t,) = study.trials
    ops = t.user_attrs["ops"]
    assert ops["dense_ops"] == pytest.approx(32.0)
    assert t.values[1] == pytest.approx(get_cost_model("cmos45").price(ops)["energy_pj"])
    targets = cost_model_registry()
    for name in targets.names():
        assert t.user_attrs[f"energy_pj[{name}]"] == pytest.approx(
            targets.get(name).price(ops)["energy_pj"]
        )
    # targets that charge differently give different energies for the same counts
    assert len({round(t.user_attrs[f"energy_pj[{n}]"], 9) for n in targets.names()}) > 1


def test_cli_search_refuses_a_suite_with_an_unknown_data_key(tmp_path, capsys):
    from spikeenergy.cli import main

    suite = tmp_path / "s.toml"
    suite.write_text('[study]\nname = "x"\n\n[data]\nname = "digits-dvs"\nval_frac = 0.2\n')
    assert main(["search", str(suite), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    # names the key and the known ones
    assert "val_frac" in err
    assert "val_fraction" in err
    assert not (tmp_path / "out").exists()  # nothing was started


def test_repeated_candidate_reuses_the_finished_trial():
    from spikeenergy.search.space import candidate_from_params

    space = SearchSpace(widths=(4, 8), depth=(1, 2))
    params = {
        "family": "mlp",
        "depth": 1,
        "width_0": 8,
        "width_1": 4,
        "tau_mem": 5.0,
        "threshold": 1.0,
        "lam": 0.1,
        "glia_ratio": 0.0,
    }
    cand = candidate_from_params(params, space)
    study = optuna.create_study(directions=["maximize", "minimize"])
    first = study.ask()
    first.set_user_attr("candidate", cand.to_dict())
    study.tell(first, (0.5, 10.0))
    # width_1 is unused at depth 1: a different parameter set, the same candidate
    twin = candidate_from_params({**params, "width_1": 8}, space)
    assert ArchitectureObjective.finished_twin(study.ask(), twin).number == first.number
    other = candidate_from_params({**params, "lam": 0.0}, space)
    assert ArchitectureObjective.finished_twin(study.ask(), other) is None
