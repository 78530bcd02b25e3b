"""The command line explains itself: fast top-level help, --version, each default shown once,
one --device meaning, no repository paths in help texts."""

from __future__ import annotations

import argparse
import re

import pytest
from fresh_python import run_python

import spikeenergy
from spikeenergy.cli import (
    COMMANDS,
    DEVICE_HELP,
    SUITE_DEVICE_HELP,
    SUMMARIES,
    HelpFormatter,
    build_parser,
    command_of,
    main,
)
from spikeenergy.cli.common import BUILTIN_BACKENDS, BUILTIN_FAMILIES


def _sub(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices[name]


def _summary(parser: argparse.ArgumentParser, name: str) -> str:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    (choice,) = [c for c in action._choices_actions if c.dest == name]
    return str(choice.help)


def test_top_level_help_imports_no_command_and_no_torch() -> None:
    code = (
        "import sys\nfrom spikeenergy.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'numpy', 'spikeenergy.cli.train', 'spikeenergy.bench') "
        "if m in sys.modules]\nprint('HEAVY', heavy)"
    )
    stdout = run_python(code)
    assert stdout.strip().endswith("HEAVY []")
    for name, summary in SUMMARIES.items():  # every command listed with its summary
        assert re.search(rf"^\s+{name}\s+{re.escape(summary.split()[0])}", stdout, re.M)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_help_imports_no_torch(name: str) -> None:
    """No command's parser needs torch; what a command runs is imported when it runs."""
    code = (
        "import sys\nfrom spikeenergy.cli import main\n"
        f"try:\n    main([{name!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'pandas', 'tonic') if m in sys.modules])"
    )
    stdout = run_python(code)
    assert stdout.strip().endswith("HEAVY []")
    assert f"usage: spikeenergy {name}" in stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"spikeenergy {spikeenergy.__version__}\n"


def test_command_of_finds_the_command_word() -> None:
    assert command_of(["-v", "bench", "quick", "--seeds", "1"]) == "bench"
    assert command_of(["--help"]) is None
    assert command_of(["nonsense", "bench"]) is None
    assert command_of(["--", "bench"]) is None


@pytest.mark.parametrize("name", list(COMMANDS))
def test_summary_table_matches_the_commands_own_help(name: str) -> None:
    assert _summary(build_parser(name), name) == SUMMARIES[name]
    assert _summary(build_parser(None), name) == SUMMARIES[name]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_default_is_shown_exactly_once(name: str) -> None:
    sub = _sub(build_parser(name), name)
    assert sub.formatter_class is HelpFormatter
    formatter = sub._get_formatter()
    for action in sub._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        text = " ".join(formatter._format_action(action).split())
        said = len(re.findall(r"default|\(else ", text, re.IGNORECASE))
        flag = action.nargs == 0
        if flag or action.required:
            assert said == 0 or "default" in (action.help or "").lower(), text
        else:
            assert said == 1, f"{name} {action.option_strings}: {text}"
        if not flag and not action.required and action.default not in (None, [], ()):
            shown = "%(default)" in (action.help or "") or str(action.default) in text
            assert shown or "default" in (action.help or "").lower(), text


def test_device_has_one_meaning_everywhere() -> None:
    seen = {}
    for name in COMMANDS:
        sub = _sub(build_parser(name), name)
        for action in sub._actions:
            if action.dest == "device":
                assert action.default is None
                seen[name] = action.help
    assert seen == {
        "train": DEVICE_HELP,
        "export": DEVICE_HELP,
        "bench": SUITE_DEVICE_HELP,
        "search": SUITE_DEVICE_HELP,
    }


def test_device_none_resolves_the_same_for_training_and_export(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from spikeenergy.train import TrainConfig
    from spikeenergy.train.config import default_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")
    assert TrainConfig().resolved_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert TrainConfig().resolved_device() == torch.device("cpu") == default_device()


def test_export_measures_on_the_default_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """``spikeenergy export`` without --device measures where training would run."""
    import torch

    from spikeenergy.export import checkpoint

    seen: dict[str, object] = {}

    def fake_measure(model, loader, targets, **kw):  # noqa: ANN001, ANN003, ANN202
        seen["device"] = kw["device"]
        raise RuntimeError("stop")

    monkeypatch.setattr(checkpoint, "measure", fake_measure)
    monkeypatch.setattr(checkpoint, "load_checkpoint", lambda path: (torch.nn.Linear(1, 1), {}))
    monkeypatch.setattr(checkpoint, "checkpoint_test_data", lambda p, r, o=None: ([], {}))
    monkeypatch.setattr(checkpoint, "make_loader", lambda *a, **k: [])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="stop"):
        checkpoint.measure_checkpoint("x.pt", [])
    assert seen["device"] == torch.device("cpu")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_names_no_repository_path(name: str) -> None:
    sub = _sub(build_parser(name), name)
    text = sub.format_help()
    for path in ("benchmarks/", "datasets/", "docs/", "examples/"):
        assert path not in text, f"{name} --help points to {path}"


def test_family_and_backend_help_name_the_builtins() -> None:
    """``--family`` and ``--backend`` list the built-ins without importing torch; the lists are
    what spikeenergy.models registers (a user's --module may add more, so no choices)."""
    code = (
        "from spikeenergy.models.families import BACKENDS, MODEL_FAMILIES\n"
        "print(' '.join(MODEL_FAMILIES.names()))\nprint(' '.join(BACKENDS.names()))"
    )
    families, backends = run_python(code).strip().split("\n")
    assert sorted(BUILTIN_FAMILIES) == families.split()
    assert sorted(BUILTIN_BACKENDS) == backends.split()
    actions = {a.dest: a for a in _sub(build_parser("train"), "train")._actions}
    for dest, names in (("model", BUILTIN_FAMILIES), ("backend", BUILTIN_BACKENDS)):
        assert actions[dest].choices is None
        assert all(n in str(actions[dest].help) for n in names)
