"""Cost models: every entry has a source and a verification note; TOML targets; energy rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spikeenergy.energy.cost_models import (
    BUILTIN_COST_MODELS,
    COST_KINDS,
    CostModel,
    calibrated_cost_model,
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
        assert len(cm.source) > 20
        assert cm.kind in COST_KINDS
        assert cm.verified.split(":")[0] in ("secondary", "partly", "unverified", "measured by us")
        # every target says where its memory energy is: in the op figures, priced, or absent
        assert cm.memory in ("included", "priced", "absent")
        if cm.memory == "priced":
            assert len(cm.memory_source) > 20


def test_kinds_say_pre_silicon_where_the_source_is_a_simulation() -> None:
    # Davies et al. 2018, Table 2: "pre-silicon SDF and SPICE simulations"
    assert get_cost_model("loihi").kind == "pre-silicon"
    assert get_cost_model("loihi-kerasspiking").kind == "pre-silicon"
    # whole-chip averages stay averages; Horowitz's 45 nm table is an estimate
    assert get_cost_model("truenorth").kind == "chip average"
    assert get_cost_model("cmos45").kind == "pre-silicon"


def test_builtin_numbers_match_their_sources() -> None:
    cmos = get_cost_model("cmos45")
    assert cmos.pj_per_mac == pytest.approx(3.7 + 0.9)  # Horowitz: fp32 mult + add
    assert cmos.pj_per_ac == 0.9
    loihi = get_cost_model("loihi")
    assert loihi.pj_per_ac == 23.6
    # Table 2: neuron update 52 pJ inactive, 81 pJ active; spike within a tile 1.7 pJ
    assert (loihi.pj_per_neuron_update, loihi.pj_per_active_update) == (52.0, 81.0)
    assert loihi.pj_per_spike == 1.7
    assert loihi.graded_mode == "events"
    assert get_cost_model("truenorth").pj_per_ac == 26.0
    # KerasSpiking's device table, in joules: loihi (23.6 + 3.5)e-12, 81e-12; spinnaker2 450e-12
    assert get_cost_model("loihi-kerasspiking").pj_per_ac == pytest.approx(23.6 + 3.5)
    assert get_cost_model("spinnaker2").pj_per_neuron_update == pytest.approx(2.19e-9 / 1e-12)
    assert get_cost_model("cpu").pj_per_mac == pytest.approx(8.6e-9 / 1e-12)


def _user(**kw: object) -> CostModel:
    base: dict[str, object] = dict(
        name="t",
        pj_per_ac=1.0,
        pj_per_mac=10.0,
        pj_per_neuron_update=100.0,
        kind="user",
        source="test",
        verified="measured by us",
    )
    return CostModel(**{**base, **kw})  # type: ignore[arg-type]


COUNTS = {
    "acs": 2.0,
    "macs": 3.0,
    "graded_events": 7.0,
    "dense_ops": 50.0,
    "neuron_updates": 4.0,
    "active_updates": 1.0,
    "spikes": 1.0,
    "state_words": 8.0,
}


def test_price_rule_by_hand() -> None:
    cm = _user(
        pj_per_active_update=200.0,
        pj_per_spike=5.0,
        pj_per_weight_read=0.5,
        pj_per_state_read=0.25,
        pj_per_state_write=0.75,
        memory_source="test memory",
    )
    out = cm.price(COUNTS)
    # synaptic (graded as MACs): 2 x 1 + 3 x 10 = 32 pJ; neurons 3 x 100 + 1 x 200 = 500 pJ;
    # spike 1 x 5 = 5 pJ -> compute 537 pJ
    assert out["synaptic_pj"] == 32
    assert out["neuron_pj"] == 500
    assert out["compute_pj"] == 537
    # memory: 5 weight reads x .5 + (5 + 8) state reads x .25 + (5 + 8) writes x .75
    # = 2.5 + 3.25 + 9.75 = 15.5 pJ
    assert out["weight_reads"] == 5
    assert out["state_reads"] == 13
    assert out["state_writes"] == 13
    assert out["memory_pj"] == pytest.approx(15.5)
    assert out["energy_pj"] == pytest.approx(552.5)
    # binary-spike chip: graded inputs are 7 events -> 2 + 7 = 9 ACs, no MAC
    ev = _user(graded_inputs="events").price(COUNTS)
    assert (ev["charged_acs"], ev["charged_macs"]) == (9, 0)
    # graded spikes (Loihi 2 style): one AC-priced op per non-zero graded input: 2 + 3
    assert _user(graded_inputs="graded-spike").price(COUNTS)["charged_acs"] == 5
    # dense target: 50 ops at the MAC price + 4 updates x 100; memory figures absent
    dense = _user(charges="dense").price(COUNTS)
    assert dense["energy_pj"] == 50 * 10 + 4 * 100
    assert dense["memory_pj"] == 0


def test_price_works_on_tensors_with_gradients() -> None:
    t = {k: torch.tensor(v, requires_grad=True) for k, v in COUNTS.items()}
    out = get_cost_model("loihi").price(t)
    out["energy_pj"].backward()
    # d/d spikes = 1.7 (routing); d/d active = 81 - 52; d/d graded_events = 23.6 (events)
    assert float(t["spikes"].grad) == pytest.approx(1.7)
    assert float(t["active_updates"].grad) == pytest.approx(81 - 52)
    assert float(t["graded_events"].grad) == pytest.approx(23.6)
    assert t["macs"].grad is None or float(t["macs"].grad) == 0  # loihi has no MAC


def test_calibrated_target_reproduces_the_measurement() -> None:
    counts = {"acs": 1000.0, "graded_events": 500.0, "neuron_updates": 10.0}
    cm = calibrated_cost_model("xylo-mine", 3e-9, counts, source="our Xylo measurement")
    assert cm.kind == "chip average"
    assert cm.price(counts)["energy_pj"] == pytest.approx(3e-9 / 1e-12)  # 3000 pJ back
    with pytest.raises(ValueError, match="no synaptic operations"):
        calibrated_cost_model("x", 1e-9, {}, source="s")


def test_user_targets_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "targets.toml"
    p.write_text(
        "[targets.my-asic]\npj_per_ac = 0.5\npj_per_mac = 2.0\npj_per_neuron_update = 1.0\n"
        'source = "our synthesis"\nverified = "measured by us"\ncharges = "dense"\n'
    )
    (cm,) = cost_models_from_toml(p)
    assert cm.name == "my-asic"
    assert cm.kind == "user"
    assert not cm.event_driven
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
        ({"graded_inputs": "mac"}, "pj_per_mac"),
        ({"graded_inputs": "analog"}, "graded_inputs"),
        ({"charges": "dense"}, "pj_per_mac"),
        ({"pj_per_weight_read": 1.0}, "memory_source"),
        ({"memory_in_op_figures": True, "pj_per_state_read": 1.0, "memory_source": "m"}, "memory"),
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
