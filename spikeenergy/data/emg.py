"""``emg-roshambo``: real surface-EMG hand gestures (Myo armband, 8 channels, 200 Hz) as events.

Sessions are ``subjectNN_sessionMM_emg.npy`` (int, [samples, 8]) with per-sample labels in
``subjectNN_sessionMM_ann.npy`` (``none``, ``rock``, ``paper``, ``scissor``). Gesture windows are
cut from the runs of one label (rest excluded), each channel is encoded by delta modulation into
UP/DOWN events (``x`` = channel), and the train/test split holds out whole sessions or subjects
so that accuracy measures generalisation to new recordings.

Windows overlap (1 s every 0.5 s by default), so a validation set drawn at random among windows
shares samples with the training set (about 9 in 10 validation windows overlapped a training
window by half). Every window therefore carries its recording (``groups``) and its sample range
(``spans``), and :func:`spikeenergy.data.splits.validation_split` splits honestly following
``val_by``: "recording" holds out whole recordings (the default; like the test split), "gap"
holds out a block of each recording and drops training windows closer than ``val_gap_ms``
(default: one window) to it.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeenergy.data.base import DatasetCard, DatasetNotFoundError
from spikeenergy.data.delta import DeltaModulation

SAMPLE_RATE_HZ = 200.0
N_CHANNELS = 8
GESTURES = ("rock", "paper", "scissor")
REST = "none"
VAL_BY = ("recording", "gap")
_SESSION_RE = re.compile(r"subject(\d+)_session(\d+)_emg\.npy$")

CARD = DatasetCard(
    name="emg-roshambo",
    sensor_size=(N_CHANNELS, 1, 2),
    n_classes=3,
    layout="<root>/emg/roshambo/subjectNN_sessionMM_{emg,ann}.npy "
    "(emg: int [samples, 8] at 200 Hz; ann: bytes label per sample)",
    obtain="Roshambo EMG (Ceolini et al. 2020) as packaged by the EMG_exp repository "
    "(Garg et al. 2021); the dataset card says where to get it",
    card="datasets/emg-roshambo/README.md",
)


@dataclass(frozen=True)
class Session:
    """One recording session on disk."""

    subject: int
    session: int
    emg_path: Path
    ann_path: Path


def find_sessions(folder: Path) -> list[Session]:
    """All complete sessions (emg + annotation files) in ``folder``, sorted."""
    sessions = []
    for path in sorted(folder.glob("subject*_session*_emg.npy")):
        m = _SESSION_RE.search(path.name)
        if m is None:
            continue
        ann = path.with_name(path.name.replace("_emg.npy", "_ann.npy"))
        if not ann.exists():
            raise DatasetNotFoundError.for_card(CARD, folder, f"{ann.name} missing for {path.name}")
        sessions.append(Session(int(m.group(1)), int(m.group(2)), path, ann))
    return sessions


def load_session(session: Session) -> tuple[np.ndarray, np.ndarray]:
    """(signal [samples, 8] float64, labels [samples] str) of one session, validated."""
    emg = np.load(session.emg_path)
    ann = np.load(session.ann_path)
    if emg.ndim != 2 or emg.shape[1] != N_CHANNELS:
        raise ValueError(f"{session.emg_path}: expected shape (samples, 8); got {emg.shape}")
    if ann.shape != (emg.shape[0],):
        raise ValueError(
            f"{session.ann_path}: {ann.shape[0]} labels for {emg.shape[0]} EMG samples"
        )
    labels = np.array([a.decode() if isinstance(a, bytes) else str(a) for a in ann])
    return emg.astype(np.float64), labels


def gesture_windows(labels: np.ndarray, window: int, hop: int) -> list[tuple[int, int, str]]:
    """(start, stop, gesture) windows of ``window`` samples every ``hop`` within label runs."""
    out = []
    pos = 0
    for label, run in itertools.groupby(labels):
        n = len(list(run))
        if label in GESTURES:
            for start in range(pos, pos + n - window + 1, hop):
                out.append((start, start + window, str(label)))
        pos += n
    return out


def _positive_ms(name: str, value: float, fix: str) -> int:
    """``value`` milliseconds as a whole number (>= 1) of samples at 200 Hz; else a clear error."""
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of milliseconds; got {value!r}") from None
    if not math.isfinite(ms) or ms <= 0:
        raise ValueError(f"{name} must be a finite number of milliseconds > 0; got {value!r}")
    samples = int(round(ms * SAMPLE_RATE_HZ / 1000))
    if samples < 1:
        raise ValueError(
            f"{name}={value} ms is less than one sample at {SAMPLE_RATE_HZ:g} Hz "
            f"({1000 / SAMPLE_RATE_HZ:g} ms); {fix}"
        )
    return samples


@dataclass
class RoshamboEMG:
    """Gesture windows of the Roshambo EMG sessions, delta-encoded into (t, x, p) events.

    ``split_by`` = "session" holds out ``test_ids`` sessions of every subject; "subject" holds
    out whole subjects. The delta threshold is ``threshold`` x each channel's standard deviation
    over the session (per-session gain normalisation, computed without labels). ``val_by`` and
    ``val_gap_ms`` say how a validation set may be carved out of this split (see the module
    docstring); every window has its recording in ``groups`` ((subject, session)) and its
    sample range in ``spans`` ((start, stop), stop exclusive, in samples of that recording).
    """

    root: Path
    split: str = "train"
    split_by: str = "session"
    test_ids: tuple[int, ...] = (3,)
    window_ms: float = 1000.0
    hop_ms: float = 500.0
    threshold: float = 0.5
    transform: object | None = None
    val_by: str = "recording"
    val_gap_ms: float | None = None

    sensor_size: tuple[int, int, int] = CARD.sensor_size
    classes: list[str] = field(default_factory=lambda: list(GESTURES))
    val_gap: int = field(init=False, default=0)  # val_gap_ms in samples (set on load)

    def __post_init__(self) -> None:  # noqa: C901 - one flat check per option, each with its message
        if self.split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test'; got {self.split!r}")
        if self.split_by not in ("session", "subject"):
            raise ValueError(f"split_by must be 'session' or 'subject'; got {self.split_by!r}")
        if isinstance(self.test_ids, int | str) or not self.test_ids:
            raise ValueError(
                f"test_ids must be a non-empty list of {self.split_by} numbers, e.g. [3]; "
                f"got {self.test_ids!r}"
            )
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in self.test_ids):
            raise ValueError(f"test_ids must be whole numbers; got {self.test_ids!r}")
        self.test_ids = tuple(self.test_ids)
        window = _positive_ms("window_ms", self.window_ms, "use a longer window")
        hop = _positive_ms("hop_ms", self.hop_ms, "use a longer hop")
        try:
            thr_ok = math.isfinite(float(self.threshold)) and float(self.threshold) > 0
        except (TypeError, ValueError):
            thr_ok = False
        if not thr_ok:
            raise ValueError(
                f"threshold must be a finite number > 0 (delta step in channel standard "
                f"deviations, e.g. 0.5); got {self.threshold!r}"
            )
        if self.val_by not in VAL_BY:
            raise ValueError(f"val_by must be one of {VAL_BY}; got {self.val_by!r}")
        if self.val_gap_ms is None:
            self.val_gap = window  # one window length: no shared sample, and a margin
        else:
            gap = self.val_gap_ms
            if not isinstance(gap, int | float) or not math.isfinite(gap) or gap < 0:
                raise ValueError(
                    f"val_gap_ms must be a finite number of milliseconds >= 0; got {gap!r}"
                )
            self.val_gap = int(math.ceil(gap * SAMPLE_RATE_HZ / 1000))
        folder = Path(self.root) / "emg" / "roshambo"
        if not folder.is_dir():
            raise DatasetNotFoundError.for_card(CARD, self.root, f"no folder {folder}")
        sessions = find_sessions(folder)
        if not sessions:
            raise DatasetNotFoundError.for_card(CARD, self.root, f"no sessions in {folder}")
        self._signals: list[np.ndarray] = []  # per session, in units of its delta threshold
        self._encoder = DeltaModulation(SAMPLE_RATE_HZ, threshold=1.0)
        self._windows: list[tuple[int, int, int]] = []  # (session index, start, stop)
        self.targets: list[int] = []
        self.groups: list[tuple[int, int]] = []  # (subject, session) of every window
        self.spans: list[tuple[int, int]] = []  # (start, stop) samples of every window
        for sess in sessions:
            held_out = (sess.session if self.split_by == "session" else sess.subject) in (
                self.test_ids
            )
            if held_out != (self.split == "test"):
                continue
            signal, labels = load_session(sess)
            std = signal.std(axis=0)
            thr = self.threshold * np.where(std > 0, std, 1.0)
            self._signals.append(signal / thr)
            si = len(self._signals) - 1
            for start, stop, gesture in gesture_windows(labels, window, hop):
                self._windows.append((si, start, stop))
                self.targets.append(GESTURES.index(gesture))
                self.groups.append((sess.subject, sess.session))
                self.spans.append((start, stop))
        if not self._windows:
            raise ValueError(
                f"no gesture windows for split={self.split!r} (split_by={self.split_by!r}, "
                f"test_ids={self.test_ids}); check the ids exist and that gestures last at "
                f"least window_ms={self.window_ms}"
            )

    def __len__(self) -> int:
        return len(self._windows)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        si, start, stop = self._windows[index]
        events = self._encoder(self._signals[si][start:stop])
        if self.transform is not None:
            events = self.transform(events)  # type: ignore[operator]
        return events, self.targets[index]
