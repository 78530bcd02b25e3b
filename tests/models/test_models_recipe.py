"""CONTRIBUTING.md's "add a model" recipe, followed with a toy family registered in the test.

One module class + one MODEL_FAMILIES entry must be all it takes: the spec validates it, the
builder builds it, checkpoints rebuild it, the ledger counts it, the table flags (spiking, dense
twin, NIR) steer every consumer, and nothing else changes when it is unregistered again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn

from spikeenergy.bench.store import RunRecord, flat_row
from spikeenergy.energy import get_cost_model
from spikeenergy.export import NIRExportError, check_nir_exportable
from spikeenergy.metrics import measure
from spikeenergy.models import (
    FAMILIES,
    MODEL_FAMILIES,
    ModelSpec,
    SpikeEnergyModel,
    SpikingNet,
    build_model,
    model_from_meta,
)
from spikeenergy.models.families import ModelFamily


class MeanLinear(SpikeEnergyModel):
    """Step 2 of the recipe: frames averaged over time, then one linear layer (dense)."""

    def __init__(self, spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__(spec, input_shape, num_classes)
        self.readout = nn.Linear(int(torch.tensor(input_shape).prod()), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        return self.readout(x.mean(0).flatten(1))  # (T, B, ...) -> (B, F) -> (B, classes)


@pytest.fixture
def toy_families() -> Iterator[None]:
    # step 3: one registry entry per family; the spiking one reuses SpikingNet
    MODEL_FAMILIES.add("toy-mean", ModelFamily(MeanLinear, spiking=False))
    MODEL_FAMILIES.add("toy-snn", ModelFamily(SpikingNet, spiking=True, dense_twin="toy-mean"))
    try:
        yield
    finally:
        MODEL_FAMILIES.unregister("toy-mean")
        MODEL_FAMILIES.unregister("toy-snn")


def test_a_registered_family_is_built_counted_and_restored(toy_families: None) -> None:
    assert "toy-mean" in FAMILIES  # the CLI's --model choices are the registry
    assert ModelSpec("Toy-Mean") == ModelSpec("toy-mean")  # one spelling is stored
    spec = ModelSpec("toy-mean")
    model = build_model(spec, (2, 3), 4)
    assert isinstance(model, MeanLinear)
    assert not model.is_spiking
    x = torch.ones(5, 2, 2, 3)  # (T, B, 2, 3)
    back = model_from_meta(model.checkpoint_meta(), model.state_dict())
    torch.testing.assert_close(back(x), model(x))
    # the ledger finds the plain nn.Linear: the time-mean of all-ones frames is 1 everywhere
    # (binary), so each of the 6 inputs drives 4 outputs: 6 x 4 = 24 accumulates per inference
    report = measure(model, [(x, torch.zeros(2, dtype=torch.long))], [get_cost_model("cmos45")])
    assert list(report.rows) == ["readout", "total"]
    assert report.rows["total"]["effective_acs"] == pytest.approx(24.0)
    assert report.rows["total"]["dense_ops"] == pytest.approx(24.0)


def test_the_table_flags_steer_the_consumers(toy_families: None) -> None:
    snn = ModelSpec("toy-snn", hidden=(8,))
    # no fast_engine flag: library engine
    assert snn.is_spiking
    assert not snn.uses_fast_engine
    assert snn.matched_dense().family == "toy-mean"  # dense twin from the record
    with pytest.raises(ValueError, match="has no fast engine"):
        ModelSpec("toy-snn", engine="fast")
    model = build_model(snn, (6,), 2)
    assert model.engine == "library"
    with pytest.raises(NIRExportError, match="'toy-snn' has no NIR export"):
        check_nir_exportable(model)
    rec = RunRecord(
        run_id="r",
        status="failed",  # a failed record has no metrics: its row is labels and flags
        dataset="d",
        model="m",
        lam=0.0,
        seed=0,
        config={"model": snn.to_dict()},
        error="x",
    )
    assert flat_row(rec)["spiking"] is True
    assert flat_row(rec)["backend"] == "snntorch"


def test_unregistered_again_the_name_is_unknown(toy_families: None) -> None:
    MODEL_FAMILIES.unregister("toy-mean")
    try:
        with pytest.raises(
            ValueError,
            match=r"family='toy-mean' is not supported; use one of "
            r".*snn-mlp",
        ):
            ModelSpec("toy-mean")
    finally:
        MODEL_FAMILIES.add("toy-mean", ModelFamily(MeanLinear, spiking=False))


def test_a_factory_that_builds_no_spikeenergy_model_is_refused() -> None:
    MODEL_FAMILIES.add(
        "toy-bad", ModelFamily(lambda spec, shape, n: nn.Linear(2, n), spiking=False)
    )
    try:
        with pytest.raises(TypeError, match="must build a SpikeEnergyModel"):
            build_model(ModelSpec("toy-bad"), (2,), 2)
    finally:
        MODEL_FAMILIES.unregister("toy-bad")
    assert "toy-bad" not in FAMILIES
