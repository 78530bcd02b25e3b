"""Progress bars that read well in a terminal and in a log file.

:func:`tqdm` is a drop-in for ``tqdm.auto.tqdm``. In a terminal (and in notebooks) it is that
bar. On any other stream (a log file, a pipe, a CI console) tqdm would redraw one line with
carriage returns, so that a log holds every redraw glued together, and a postfix change redraws
the same state a second time. There, the bar writes each update as one plain line, at most one
every :data:`LOG_INTERVAL_S` seconds (unless the caller sets ``mininterval``), only when the
state changed, and a postfix change waits for the next update instead of printing a line of its
own.
"""

from __future__ import annotations

import re
import sys
from typing import IO, Any

from tqdm.auto import tqdm as _auto_tqdm
from tqdm.std import tqdm as _std_tqdm

#: seconds between two lines of a bar writing to a log (a terminal redraws every 0.1 s)
LOG_INTERVAL_S = 10.0

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: tqdm.auto chose Jupyter's widget bar (it draws no text to a stream)
_NOTEBOOK = any(c.__module__ == "tqdm.notebook" for c in _auto_tqdm.__mro__)


def is_terminal(stream: Any) -> bool:
    """True if ``stream`` is an interactive terminal."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):  # a closed stream
        return False


class LineStream:
    """A stream for tqdm that turns every status it draws into one line: carriage returns and
    cursor movements become line ends, blank clears are dropped, and a status identical to the
    previous line is not written again."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> int:
        """Write ``text`` as whole lines (see the class docstring); returns its length."""
        for part in re.split(r"[\r\n]", _ANSI.sub("", text)):
            line = part.rstrip()
            if line and line != self.last:
                self.stream.write(line + "\n")
                self.last = line
        return len(text)

    def flush(self) -> None:
        """Flush the underlying stream."""
        self.stream.flush()


class LineTqdm(_std_tqdm):  # type: ignore[misc]
    """The bar :func:`tqdm` returns for non-terminal streams: postfix and description changes
    are shown with the next update, never as a line of their own."""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """tqdm's, shown with the next update."""
        super().set_postfix_str(s, refresh=False)

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        """tqdm's, shown with the next update."""
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        """tqdm's, shown with the next update."""
        super().set_description(desc, refresh=False)


def tqdm(*args: Any, **kwargs: Any) -> Any:
    """A progress bar (``tqdm.auto.tqdm``'s arguments): tqdm's own in terminals and notebooks,
    one line per update on other streams (see the module docstring)."""
    stream = kwargs.pop("file", None) or sys.stderr
    if _NOTEBOOK or is_terminal(stream):
        return _auto_tqdm(*args, file=stream, **kwargs)
    kwargs.setdefault("mininterval", LOG_INTERVAL_S)
    kwargs.pop("dynamic_ncols", None)  # no terminal width to follow
    return LineTqdm(*args, file=LineStream(stream), **kwargs)
