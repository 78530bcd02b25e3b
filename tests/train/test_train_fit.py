import json
import math

import pytest
import torch
from toyframes import ToyFrames

from spikeenergy.cli import main as cli_main
from spikeenergy.data import FrameConfig, make_loader
from spikeenergy.energy import ActivityEnergy, EnergyTerm
from spikeenergy.models import ModelSpec
from spikeenergy.train import (
    DataConfig,
    ExperimentConfig,
    NonFiniteLossError,
    TrainConfig,
    build_seeded_model,
    evaluate,
    fit,
    load_checkpoint,
    run_experiment,
    save_checkpoint,
)


class Toy(ToyFrames):
    """The shared toy frames (tests/toyframes.py) at this module's default noise."""


CPU = dict(device="cpu", epochs=8, batch_size=8, lr=0.02, schedule="none")


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(family="snn-mlp", hidden=(16,), backend="snntorch"),
        ModelSpec(family="snn-mlp", hidden=(16,), backend="norse"),
        ModelSpec(family="mlp", hidden=(16,)),
        ModelSpec(family="gru", hidden=(16,)),
    ],
    ids=["snntorch", "norse", "mlp", "gru"],
)
def test_fit_learns_toy_task_for_every_kind(spec):
    model = build_seeded_model(spec, (6,), 2, seed=0)
    # lam in 1/pJ: the toy nets spend ~1e3-1e4 pJ per inference on cmos45
    result = fit(model, Toy(), Toy(16, seed=1), TrainConfig(**CPU, lam=1e-5), progress=False)
    assert result.history[-1]["epoch"] == 7
    assert result.best_val_accuracy >= 0.9
    assert result.efficiency["steps"] == 8 * 4  # 32 samples / batch 8 = 4 steps per epoch
    test = evaluate(model, Toy(16, seed=2), ActivityEnergy(), TrainConfig(device="cpu"))
    assert test["accuracy"] >= 0.85
    assert 0 < test["energy"]


def test_training_efficiency_counts_steps_to_target():
    model = build_seeded_model(ModelSpec(family="mlp", hidden=(8,)), (6,), 2, seed=0)
    cfg = TrainConfig(**CPU, target_accuracy=0.01)  # reached after the very first epoch
    eff = fit(model, Toy(), Toy(8, seed=1), cfg, progress=False).efficiency
    assert eff["epochs_to_target"] == 1
    assert eff["steps_to_target"] == 4
    assert 0 < eff["time_to_target_s"] <= eff["wall_time_s"]


def test_early_stopping_on_validation_plateau():
    model = build_seeded_model(ModelSpec(family="mlp", hidden=(8,)), (6,), 2, seed=0)
    cfg = TrainConfig(**{**CPU, "lr": 1e-12, "epochs": 20}, patience=2)
    result = fit(model, Toy(), Toy(8, seed=1), cfg, progress=False)
    # lr ~ 0: validation accuracy never improves after epoch 0, so epochs 1, 2, 3 are stale;
    # equal accuracies select the later epoch (documented tie rule)
    assert len(result.history) == 4
    assert result.best_epoch == 3
    assert len({row["val_accuracy"] for row in result.history}) == 1


class _NaNAfter(EnergyTerm):
    """Energy that turns NaN from the ``n``-th call on (to exercise the non-finite guard)."""

    def __init__(self, n):
        self.calls, self.n = 0, n

    @property
    def needs(self):
        return frozenset({"spikes", "activations"})

    def __call__(self, record):
        self.calls += 1
        value = ActivityEnergy()(record)
        return value * math.nan if self.calls > self.n else value


def test_non_finite_loss_names_epoch_batch_lambda_and_restores_weights():
    model = build_seeded_model(ModelSpec(family="mlp", hidden=(8,)), (6,), 2, seed=0)
    snapshots = []
    cfg = TrainConfig(**CPU, lam=0.5)
    # 4 train batches per epoch and no validation: NaN on call 7 = epoch 1, batch 2
    with pytest.raises(NonFiniteLossError, match=r"epoch 1: non-finite loss at batch 2.*lam=0.5"):
        fit(
            model,
            Toy(),
            None,
            cfg,
            energy=_NaNAfter(6),
            progress=False,
            on_epoch=lambda row, m: snapshots.append(
                {k: v.clone() for k, v in m.state_dict().items()}
            ),
        )
    assert len(snapshots) == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[0][k])  # the weights at the end of epoch 0


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path):
    spec = ModelSpec(family="snn-mlp", hidden=(16,), backend="norse")
    model = build_seeded_model(spec, (6,), 2, seed=3)
    fit(model, Toy(), None, TrainConfig(**{**CPU, "epochs": 2}), progress=False)
    path = save_checkpoint(tmp_path / "m.pt", model, {"note": "x"}, {"acc": 1.0})
    loaded, payload = load_checkpoint(path)
    x, _ = next(iter(make_loader(Toy(8, seed=5), 8)))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert payload["config"] == {"note": "x"}
    assert payload["metrics"] == {"acc": 1.0}
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


def _tiny_experiment(seed=0, lam=0.0):
    return ExperimentConfig(
        data=DataConfig(
            name="digits-dvs",
            frames=FrameConfig(n_time_bins=5),
            train_per_class=3,
            test_per_class=1,
            val_fraction=0.2,
            options={"limit": 120},
        ),
        model=ModelSpec(family="snn-mlp", hidden=(16,)),
        train=TrainConfig(epochs=2, batch_size=8, seed=seed, lam=lam, device="cpu"),
    )


def test_same_config_and_seed_give_the_same_numbers(tmp_path):
    a = run_experiment(_tiny_experiment(seed=4), progress=False)
    b = run_experiment(_tiny_experiment(seed=4), out_dir=tmp_path, progress=False)
    assert a["test"] == b["test"]
    assert a["curves"]["train_loss"] == b["curves"]["train_loss"]
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["schema"] == "spikeenergy.metrics/2"
    assert written["test"]["accuracy"] == b["test"]["accuracy"]
    assert {"model.pt", "last.pt", "metrics.json"} <= {p.name for p in tmp_path.iterdir()}


def test_cli_train_writes_metrics(tmp_path, capsys):
    rc = cli_main(
        [
            "train",
            "--dataset",
            "digits-dvs",
            "--train-per-class",
            "2",
            "--test-per-class",
            "1",
            "--epochs",
            "1",
            "--time-bins",
            "4",
            "--hidden",
            "8",
            "--lam",
            "1e-3",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
            "--no-progress",
            "--val-fraction",
            "0.25",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["train"]["lam"] == 1e-3
    assert metrics["model"]["backend"] == "snntorch"
    rc = cli_main(["train", "--dataset", "no-such-set"])
    assert rc == 2
    assert "unknown dataset 'no-such-set'" in capsys.readouterr().err


class Imbalanced(ToyFrames):
    """ToyFrames with 7 of every 8 samples in class 0 (the pattern still tells them apart)."""

    def __init__(self, n: int = 32, seed: int = 0) -> None:
        super().__init__(n, seed)
        g = torch.Generator().manual_seed(seed + 100)
        self.targets = [1 if i % 8 == 0 else 0 for i in range(n)]
        self.x = (torch.rand(n, 4, 6, generator=g) < 0.2).float()
        for i, y in enumerate(self.targets):
            cols = slice(0, 3) if y else slice(3, 6)
            self.x[i, :, cols] += (torch.rand(4, 3, generator=g) < 0.7).float()


def test_class_weights_by_hand():
    from spikeenergy.train import class_weights

    # 28 samples of class 0 and 4 of class 1: weights N / (K * n_c) = 32 / (2 * 28), 32 / 8
    w = class_weights(Imbalanced(32))
    torch.testing.assert_close(w, torch.tensor([32 / 56, 4.0]))
    # a class absent from the split cannot be trained on: weight 0, others over present ones
    w3 = class_weights(Imbalanced(32), num_classes=3)
    torch.testing.assert_close(w3, torch.tensor([32 / 56, 4.0, 0.0]))


def test_metric_selects_the_checkpoint_and_scores_are_reported():
    model = build_seeded_model(ModelSpec(family="mlp", hidden=(8,)), (6,), 2, seed=0)
    cfg = TrainConfig(**CPU, metric="balanced_accuracy", class_weights="balanced")
    result = fit(model, Imbalanced(64), Imbalanced(32, seed=1), cfg, progress=False)
    assert result.metric == "balanced_accuracy"
    best = result.history[result.best_epoch]
    assert result.best_val_score == best["val_score"]
    assert best["val_score"] == max(r["val_score"] for r in result.history)
    ev = evaluate(model, Imbalanced(32, seed=2), ActivityEnergy(), TrainConfig(device="cpu"))
    from sklearn.metrics import balanced_accuracy_score, f1_score

    y, p = ev["targets"].numpy(), ev["preds"].numpy()
    assert ev["scores"]["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p))
    assert ev["scores"]["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert ev["scores"]["accuracy"] == pytest.approx(ev["accuracy"])
    with pytest.raises(KeyError, match="known"):  # unknown names list the registered metrics
        fit(model, Imbalanced(), None, TrainConfig(**CPU, metric="nope"))
    with pytest.raises(ValueError, match="class_weights"):
        TrainConfig(class_weights="inverse")


def test_train_config_is_frozen_hashable_and_round_trips():
    import pickle

    a = TrainConfig(energy="spike-rate", energy_options={"layers": ["fc_spk.0"]})
    b = TrainConfig.from_dict(a.to_dict())
    assert a == b
    assert hash(a) == hash(b)
    assert pickle.loads(pickle.dumps(a)) == a
    assert a.to_dict()["energy_options"] == {"layers": ["fc_spk.0"]}  # plain data for JSON
    with pytest.raises(TypeError):
        a.energy_options["layers"] = ()  # type: ignore[index]  # immutable in place too
    assert {TrainConfig(): 1}[TrainConfig()] == 1
