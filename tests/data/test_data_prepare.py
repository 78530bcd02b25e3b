"""DataConfig: frozen, hashable, validated where it is built; from_dict names unknown keys."""

from __future__ import annotations

import pytest

from spikeenergy.data import DataConfig, FrameConfig
from spikeenergy.registry import FrozenDict


def test_round_trip_and_hash() -> None:
    cfg = DataConfig(name="digits-dvs", options={"limit": 40, "classes": [1, 2]}, folds=3, fold=1)
    d = cfg.to_dict()
    assert d["options"] == {"classes": [1, 2], "limit": 40}  # plain lists again, for JSON
    back = DataConfig.from_dict(d)
    assert back == cfg
    assert hash(back) == hash(cfg)
    assert isinstance(back.frames, FrameConfig)
    # a config is a dict key: two equal configs built differently are one key
    assert len({cfg, back, DataConfig(name="digits-dvs", options={"limit": 40})}) == 2


def test_options_are_frozen() -> None:
    cfg = DataConfig(options={"limit": 40})
    assert isinstance(cfg.options, FrozenDict)
    with pytest.raises(TypeError):
        cfg.options["limit"] = 1  # type: ignore[index]


def test_from_dict_names_the_unknown_key_and_the_known_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown DataConfig keys \['val_frac'\]; known: .*"
        r"'val_fraction'",
    ):
        DataConfig.from_dict({"name": "digits-dvs", "val_frac": 0.2})
    with pytest.raises(
        ValueError,
        match=r"DataConfig.frames keys \['bins'\]; known: .*"
        r"'n_time_bins'",
    ):
        DataConfig.from_dict({"name": "digits-dvs", "frames": {"bins": 4}})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 1.0}, "val_fraction=1.0 must lie in"),
        ({"train_per_class": 0}, "train_per_class=0 must be a whole number"),
        ({"test_per_class": 2.5}, "test_per_class=2.5 must be a whole number"),
        ({"options": [("limit", 3)]}, "must be a table"),
        ({"name": ""}, "must be a dataset name"),
        ({"fold": 1}, "needs folds"),
    ],
)
def test_bad_values_fail_when_built(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DataConfig(**kwargs)


def test_train_still_exports_the_data_config() -> None:
    import spikeenergy.train as train

    assert train.DataConfig is DataConfig
    assert train.prepare_data.__module__ == "spikeenergy.data.prepare"
