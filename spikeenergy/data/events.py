"""Tonic-structured event arrays: dtypes, constructors and validation.

Events stay structured numpy arrays with fields ``t`` (microseconds), ``x``, ``y`` (2-D sensors
only) and ``p`` (polarity, 1 = ON/UP, 0 = OFF/DOWN) until a transform turns them into tensors.
"""

from __future__ import annotations

import numpy as np

#: Events of a 2-D sensor (DVS cameras), as Tonic's N-MNIST reader produces them.
EVENTS_XYTP = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
#: Events of a 1-D sensor (audio cochleas, physiological channels): ``x`` is the channel.
EVENTS_TXP = np.dtype([("t", np.int64), ("x", np.int64), ("p", np.int64)])


def make_events(
    t: np.ndarray, x: np.ndarray, p: np.ndarray, y: np.ndarray | None = None
) -> np.ndarray:
    """Build a structured event array (2-D if ``y`` is given, else 1-D) sorted by time."""
    t = np.asarray(t)
    n = t.shape[0]
    arrays = {"t": t, "x": np.asarray(x), "p": np.asarray(p)}
    if y is not None:
        arrays["y"] = np.asarray(y)
    for name, arr in arrays.items():
        if arr.shape != (n,):
            raise ValueError(f"event field {name!r} has shape {arr.shape}, expected ({n},)")
    dtype = EVENTS_XYTP if y is not None else EVENTS_TXP
    events = np.empty(n, dtype=dtype)
    for name, arr in arrays.items():
        events[name] = arr
    order = np.argsort(events["t"], kind="stable")
    return events[order]


def validate_events(events: np.ndarray, sensor_size: tuple[int, int, int]) -> np.ndarray:
    """Check that ``events`` is a structured array that fits ``sensor_size`` (x, y, polarities).

    Returns the array unchanged; raises ``ValueError`` naming the first problem found.
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise ValueError(
            f"expected a structured numpy array with fields t, x, p[, y]; got {type(events)!r}"
        )
    names = set(events.dtype.names)
    missing = {"t", "x", "p"} - names
    if missing:
        raise ValueError(f"event array lacks field(s) {sorted(missing)}; has {sorted(names)}")
    if len(events) == 0:
        return events
    width, height, n_pol = sensor_size
    checks = [("x", width)] + ([("y", height)] if "y" in names else [])
    for field, size in checks:
        lo, hi = int(events[field].min()), int(events[field].max())
        if lo < 0 or hi >= size:
            raise ValueError(
                f"event field {field!r} spans [{lo}, {hi}], outside sensor size {size}"
            )
    p_lo, p_hi = int(events["p"].min()), int(events["p"].max())
    if p_lo < 0 or p_hi >= max(n_pol, 2):
        raise ValueError(f"polarity spans [{p_lo}, {p_hi}], expected values in [0, {n_pol - 1}]")
    if np.any(np.diff(events["t"]) < 0):
        raise ValueError("event timestamps are not sorted in time")
    return events
