"""Command-line entry point: ``spikeenergy <command> ...``; thin layer over the library.

Each command lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``
(and optionally ``RESUME_HINT``, shown when the command is interrupted). Only the module of the
command being run is imported: ``spikeenergy --help`` lists the commands from
:data:`SUMMARIES` without importing torch or any command (a test keeps the summaries equal to
the commands' own). Every command's help shows each option's default once
(:class:`HelpFormatter`), and ``--device`` has one meaning everywhere (:data:`DEVICE_HELP`).

Errors of bad options and files print one line, ``spikeenergy CMD: error: ...`` (exit 2); so
does a missing optional package, naming the extra that installs it
(``pip install 'spikeenergy[data]'``, see :mod:`spikeenergy.extras`).
Ctrl-C (SIGINT) and SIGTERM stop the command cleanly (worker processes are stopped, temporary
files removed) and print one line (exit 130 / 143), never a traceback.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from spikeenergy import __version__
from spikeenergy.extras import missing_extra

#: command name -> module (imported only when that command runs, or its help is asked for)
COMMANDS = {
    "train": "spikeenergy.cli.train",
    "bench": "spikeenergy.cli.bench",
    "report": "spikeenergy.cli.report",
    "datasets": "spikeenergy.cli.datasets",
    "export": "spikeenergy.cli.export",
    "search": "spikeenergy.cli.search",
    "tables": "spikeenergy.cli.tables",
}

#: command name -> the one-line help its module registers (listed by ``spikeenergy --help``
#: without importing the modules)
SUMMARIES = {
    "train": "train one model with L = CE + lambda * E",
    "bench": "run a benchmark suite (datasets x models x lambdas x seeds)",
    "report": "write report.md (tables, ANOVA, PNG/SVG plots) for a benchmark results folder",
    "datasets": "list datasets, their layout and data root",
    "export": "per-layer ops and joules per inference on hardware targets; json/csv/hdf5/nir",
    "search": "NSGA-II search over architectures for accuracy vs energy (Optuna)",
    "tables": "regenerate the <!-- table: FILE --> blocks of README/docs from result summaries",
}

#: ``--device`` of every command: None means CUDA when available, else CPU
DEVICE_HELP = "cpu, cuda, cuda:N or mps (default: CUDA when available, else CPU)"
#: ``--device`` of the commands that run a suite, whose [train] table may name a device
SUITE_DEVICE_HELP = (
    "cpu, cuda, cuda:N or mps (default: the suite's [train] device if it sets one, else CUDA "
    "when available, else CPU)"
)
_SUITE_COMMANDS = ("bench", "search")

_FLAGS = (
    argparse._StoreTrueAction,
    argparse._StoreFalseAction,
    argparse._StoreConstAction,
    argparse._CountAction,
    argparse._HelpAction,
    argparse._VersionAction,
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default once: appended to the help unless the help already states
    it ("default ...", "(else ...)"), also for options without help text; ``not set`` for None
    or empty; nothing for flags (off unless given), required options and positional
    arguments."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text.lower()
            or "(else " in text  # "data root (else $SPIKEENERGY_DATA)" states its default
            or not action.option_strings
            or action.required
            or isinstance(action, _FLAGS)
            or action.default is argparse.SUPPRESS
        ):
            return text
        shown = "not set" if action.default in (None, [], ()) else "%(default)s"
        return f"{text} (default: {shown})" if text else f"default: {shown}"

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._get_help_string(action):
            action = copy.copy(action)  # the default is shown even without help text
            action.help = self._get_help_string(action)
        return super()._format_action(action)


def command_of(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (its first word that is not an option), if any; the
    top-level options (-h, -v, --version) take no value."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _finish(p: argparse.ArgumentParser, command: str) -> None:
    """One help style and one ``--device`` text for every command."""
    p.formatter_class = HelpFormatter
    for action in p._actions:
        if action.dest == "device" and action.option_strings:
            action.help = SUITE_DEVICE_HELP if command in _SUITE_COMMANDS else DEVICE_HELP


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser. Only ``command`` (if given) gets its options, from its module
    (imported here); the other commands are listed by name and summary, so that building the
    parser for ``spikeenergy --help`` imports nothing heavy."""
    parser = argparse.ArgumentParser(
        prog="spikeenergy",
        description="Energy-aware neuromorphic learning: train, benchmark and measure the "
        "joules of spiking and dense networks on hardware targets. "
        "`spikeenergy COMMAND --help` shows a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"spikeenergy {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        if name == command:
            importlib.import_module(module).add_parser(sub)
            _finish(sub.choices[name], name)
        else:
            sub.add_parser(name, help=SUMMARIES[name])
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that clean-up runs as for Ctrl-C."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while a command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


#: errors that mean bad input (options, files, environment): one line, exit 2
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    KeyError,
    FloatingPointError,
    OSError,
)


def _user_errors() -> tuple[type[BaseException], ...]:
    # a busy results store can only have been reported if the bench store was imported
    store = sys.modules.get("spikeenergy.bench.store")
    busy = getattr(store, "StoreBusyError", None)
    return (*USER_ERRORS, busy) if busy is not None else USER_ERRORS


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; errors print one clear line and exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = command_of(argv)
    command = f"spikeenergy {name}" if name else "spikeenergy"
    try:
        with _sigterm_as_interrupt():
            try:
                parser = build_parser(name)
            except ImportError as exc:  # the command's module needs an extra
                err = missing_extra(exc)
                if err is None:
                    raise
                print(f"{command}: error: {err}", file=sys.stderr)
                return 2
            args = parser.parse_args(argv)
            logging.basicConfig(
                level=logging.INFO if args.verbose else logging.WARNING,
                format="%(levelname)s %(name)s: %(message)s",
            )
            try:
                return int(args.func(args) or 0)
            except ImportError as exc:
                err = missing_extra(exc)
                if err is None:
                    raise
                print(f"{command}: error: {err}", file=sys.stderr)
                return 2
            except _user_errors() as exc:
                print(f"{command}: error: {exc}", file=sys.stderr)
                return 2
    except KeyboardInterrupt as exc:
        how = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        module = sys.modules.get(COMMANDS.get(command.removeprefix("spikeenergy "), ""))
        hint = getattr(module, "RESUME_HINT", "")
        print(f"{command}: stopped by {how}" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
