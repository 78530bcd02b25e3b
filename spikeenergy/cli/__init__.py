"""Command-line entry point: ``spikeenergy <command> ...``; thin layer over the library.

Each command lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``
(and optionally ``RESUME_HINT``, shown when the command is interrupted).

Errors of bad options and files print one line, ``spikeenergy CMD: error: ...`` (exit 2).
Ctrl-C (SIGINT) and SIGTERM stop the command cleanly (worker processes are stopped, temporary
files removed) and print one line (exit 130 / 143), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

#: command name -> module (imported lazily so ``spikeenergy --help`` stays fast)
COMMANDS = {
    "train": "spikeenergy.cli.train",
    "bench": "spikeenergy.cli.bench",
    "report": "spikeenergy.cli.report",
    "datasets": "spikeenergy.cli.datasets",
    "export": "spikeenergy.cli.export",
    "search": "spikeenergy.cli.search",
    "tables": "spikeenergy.cli.tables",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="spikeenergy", description="Energy-aware neuromorphic learning."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
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
    from spikeenergy.bench.store import StoreBusyError

    return (*USER_ERRORS, StoreBusyError)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; errors print one clear line and exit 2."""
    command = "spikeenergy"
    try:
        with _sigterm_as_interrupt():
            args = build_parser().parse_args(argv)
            command = f"spikeenergy {args.command}"
            logging.basicConfig(
                level=logging.INFO if args.verbose else logging.WARNING,
                format="%(levelname)s %(name)s: %(message)s",
            )
            try:
                return int(args.func(args) or 0)
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
