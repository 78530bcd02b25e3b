"""Cost models: every entry has a source and a verification note; TOML targets; energy rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikeenergy.energy.cost_models import (
    BUILTIN_COST_MODELS,
    COST_KINDS,
    CostModel,
    cost_model_registry,
    cost_models_from_toml,
    get_cost_model,
)


def test_every_builtin_has_source_kind_and_verification() -> None:
    names = [cm.name for cm in BUILTIN_COST_MODELS]
    assert len(set(names)) == len(names)
    for required in (
        "cmos45",
        "loihi",
        "spinnaker",
        "spinnaker2",
        "truenorth",
        "cpu",
        "gpu",
        "arm",
    ):
        assert required in names
    for cm in BUILTIN_COST_MODELS:
        assert len(cm.source) > 20 and cm.kind in COST_KINDS
        assert cm.verified.split(":")[0] in ("secondary", "partly", "unverified", "measured by us")


def test_builtin_numbers_match_their_sources() -> None:
    cmos = get_cost_model("cmos45")
    assert cmos.pj_per_mac == pytest.approx(3.7 + 0.9)  # Horowitz: fp32 mult + add
    assert cmos.pj_per_ac == 0.9
    assert get_cost_model("loihi").pj_per_ac == 23.6
    assert get_cost_model("truenorth").pj_per_ac == 26.0
    # KerasSpiking's device table, in joules: loihi (23.6 + 3.5)e-12, 81e-12; spinnaker2 450e-12
    assert get_cost_model("loihi-kerasspiking").pj_per_ac == pytest.approx(23.6 + 3.5)
    assert get_cost_model("spinnaker2").pj_per_neuron_update == pytest.approx(2.19e-9 / 1e-12)
    assert get_cost_model("cpu").pj_per_mac == pytest.approx(8.6e-9 / 1e-12)


def test_energy_rule_by_hand() -> None:
    cm = CostModel("t", 1.0, 10.0, 100.0, "user", "test", "measured by us", "effective", 0.5)
    counts = {"effective_acs": 2, "effective_macs": 3, "dense_acs": 50, "neuron_updates": 4}
    out = cm.energy(counts)
    # (2 x 1 + 3 x 10) pJ synaptic + 4 x 100 neuron + (2 + 3) x 0.5 memory = 32 + 400 + 2.5
    assert out["energy_j"] == pytest.approx(434.5e-12)
    assert out["charged_acs"] == 2 and out["charged_macs"] == 3


def test_user_targets_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "targets.toml"
    p.write_text(
        "[targets.my-asic]\npj_per_ac = 0.5\npj_per_mac = 2.0\npj_per_neuron_update = 1.0\n"
        'source = "our synthesis"\nverified = "measured by us"\ncharges = "dense"\n'
    )
    (cm,) = cost_models_from_toml(p)
    assert cm.name == "my-asic" and cm.kind == "user" and not cm.event_driven
    assert cost_model_registry([cm]).get("MY-ASIC") is cm
    with pytest.raises(ValueError, match="already registered"):
        cost_model_registry([get_cost_model("loihi")])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pj_per_ac": -1.0}, "pj_per_ac"),
        ({"kind": "guess"}, "kind"),
        ({"source": " "}, "source"),
        ({"charges": "sometimes"}, "charges"),
    ],
)
def test_invalid_cost_models_raise(kwargs: dict, match: str) -> None:
    base = dict(
        name="x",
        pj_per_ac=1.0,
        pj_per_mac=None,
        pj_per_neuron_update=1.0,
        kind="user",
        source="s",
        verified="v",
    )
    with pytest.raises(ValueError, match=match):
        CostModel(**{**base, **kwargs})


def test_unknown_target_lists_known(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="loihi"):
        get_cost_model("loihi3")
    bad = tmp_path / "bad.toml"
    bad.write_text("[targets.y]\npj_per_ac = 1\n")
    with pytest.raises(ValueError, match="targets.y"):
        cost_models_from_toml(bad)
