"""Bad suite files are refused when they are loaded, with a message naming the file, the place
and the key (never a silently truncated value, a path outside results/, or a failure in every
run later)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikeenergy.bench import SuiteError, load_suite

BASE = """
[suite]
{name}
seeds = 1
lambdas = [0.0]
{suite}

[train]
{train}

[frames]
n_time_bins = 4
{frames}

[[datasets]]
name = "{dataset}"
options = {{ {options} }}
{data}

[[models]]
family = "mlp"
hidden = [8]
{model}
"""

FIELDS = ("name", "suite", "train", "frames", "dataset", "options", "data", "model")


def suite_text(**parts: str) -> str:
    values = {k: "" for k in FIELDS} | {"dataset": "digits-dvs", "options": "limit = 20"}
    values["name"] = 'name = "v"'
    values["train"] = "epochs = 1"
    values.update(parts)
    return BASE.format(**values)


def load(tmp_path: Path, **parts: str):  # noqa: ANN201
    path = tmp_path / "v.toml"
    path.write_text(suite_text(**parts))
    return load_suite(path)


def test_the_base_suite_loads(tmp_path: Path) -> None:
    suite = load(tmp_path)
    assert suite.name == "v"
    assert suite.n_runs == 1


# (section override, text expected in the error)
BAD = [
    # suite names become folder names
    ({"name": 'name = "../../../escaped"'}, "'../../../escaped' is not a plain name"),
    ({"name": 'name = "/tmp/abs"'}, "is not a plain name"),
    ({"name": 'name = "a/b"'}, "is not a plain name"),
    ({"name": 'name = ".hidden"'}, "is not a plain name"),
    ({"name": 'name = ""'}, "is not a plain name"),
    ({"name": "name = 5"}, "name=5 must be a string"),
    ({"suite": 'target_accuracy = "high"'}, "target_accuracy='high' must be a finite number"),
    ({"suite": "energy_options = 3"}, "energy_options=3 must be a table"),
    ({"suite": "description = 1"}, "description=1 must be a string"),
    # training budget types: refused, not truncated or failing in every run
    ({"train": "epochs = 2.5"}, "epochs=2.5 must be an integer"),
    ({"train": "epochs = 1\nbatch_size = 32.0"}, "batch_size=32.0 must be an integer"),
    ({"train": 'lr = "0.1"'}, "lr='0.1' must be a finite number"),
    ({"train": "patience = 1.5"}, "patience=1.5 must be an integer (or absent)"),
    ({"train": "grad_clip = true"}, "grad_clip=True must be a finite number"),
    ({"train": "weight_decay = nan"}, "weight_decay=nan must be a finite number"),
    ({"train": "step_size = 2.5"}, "step_size=2.5 must be an integer"),
    # frames
    ({"frames": "downsample = true"}, "downsample=True must be a finite number"),
    ({"frames": 'binarize = "yes"'}, "binarize='yes' must be true or false"),
    ({"data": "frames = { n_time_bins = 2.5 }"}, "n_time_bins=2.5 must be an integer"),
    # dataset entries
    ({"data": 'val_fraction = "0.1"'}, "val_fraction='0.1' must be a finite number"),
    ({"data": "train_per_class = 2.0"}, "train_per_class=2.0 must be an integer"),
    ({"data": "augment_shift = 1.5"}, "augment_shift=1.5 must be an integer"),
    ({"data": "root = 5"}, "root=5 must be a string"),
    ({"data": "label = 3"}, "label=3 must be a string"),
    # dataset options: names and values
    ({"options": "limit = 0"}, "limit=0 must be an integer >= 1"),
    ({"options": "limit = -5"}, "limit=-5 must be an integer >= 1"),
    ({"options": "limit = 2.5"}, "limit=2.5 must be an integer >= 1"),
    ({"options": "limit = true"}, "limit=True must be an integer >= 1"),
    ({"options": "limt = 20"}, "has no option 'limt' (did you mean 'limit'?)"),
    ({"options": "dt_us = 1"}, "dt_us=1 must be an integer in [100, 150000]"),
    ({"options": "dvs = { refractory_us = 0 }, dt_us = 100"}, "above the cap max_events"),
    ({"options": "dvs = { threshold = -1.0 }"}, "dvs.threshold=-1.0 must be a number > 0"),
    ({"options": "dvs = { treshold = 0.3 }"}, "dvs: unknown key(s) ['treshold']"),
    ({"options": 'download = "no"'}, "download='no' must be true or false"),
    ({"dataset": "nmnist", "options": "limit = 20"}, "dataset 'nmnist' has no option 'limit'"),
    ({"dataset": "nmnist", "options": 'first_saccade_only = "yes"'}, "must be true or false"),
    ({"dataset": "nmnist", "options": "max_events = 0"}, "max_events=0 must be an integer >= 1"),
    ({"dataset": "shd", "options": "transform = 'x'"}, "transform='x' must be a callable"),
    ({"dataset": "emg-roshambo", "options": "windw_ms = 100"}, "did you mean 'window_ms'?"),
    # models
    ({"model": "kernel_size = 3.0"}, "kernel_size=3.0 must be an integer"),
    ({"model": "recurrent = 1"}, "recurrent=1 must be true or false"),
    ({"model": 'label = ["x"]'}, "label=['x'] must be a string"),
    ({"model": 'neuron = { beta = "x" }'}, "neuron: beta='x' must be a finite number"),
]


@pytest.mark.parametrize(("parts", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_values_are_refused_at_load_naming_the_key(
    tmp_path: Path, parts: dict[str, str], message: str
) -> None:
    with pytest.raises(SuiteError) as info:
        load(tmp_path, **parts)
    text = str(info.value)
    assert text.startswith(str(tmp_path / "v.toml")), text
    assert message in text, text
    # one line, the file named once
    assert text.count("v.toml") == 1
    assert "\n" not in text


def test_hidden_widths_must_be_integers(tmp_path: Path) -> None:
    text = suite_text().replace("hidden = [8]", "hidden = [8.7]")
    (tmp_path / "v.toml").write_text(text)
    with pytest.raises(SuiteError, match=r"hidden=\[8.7\] must be a list of integers"):
        load_suite(tmp_path / "v.toml")


def test_plain_names_with_dots_dashes_and_spaces_load(tmp_path: Path) -> None:
    assert load(tmp_path, name='name = "my suite-v1.2_b"').name == "my suite-v1.2_b"


def test_the_default_name_comes_from_a_plain_file_name(tmp_path: Path) -> None:
    (tmp_path / "..x.toml").write_text(suite_text(name=""))
    with pytest.raises(SuiteError, match="'..x' is not a plain name"):
        load_suite(tmp_path / "..x.toml")
