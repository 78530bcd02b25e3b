"""Audio -> events: a mel-spaced band-pass filterbank, band envelopes, then delta modulation.

The pipeline (numpy / scipy; causal filters, like an analog cochlea):

1. ``n_bands`` Butterworth band-pass filters (``filter_order``), contiguous bands whose edges are
   evenly spaced on the mel scale between ``f_min_hz`` and ``f_max_hz``
   (:func:`mel_band_edges`; band ``k`` is ``[edges[k], edges[k + 1])``).
2. Band power (the filtered signal squared), low-passed at ``envelope_cutoff_hz`` (order 4, so
   the ripple at twice a band's frequency is gone) and sampled at ``envelope_rate_hz``.
3. A level per band, normalised to the clip's loudest band at its loudest moment (so a clip's
   recording gain does not matter):

   * ``level="amplitude"`` (default): the band's RMS amplitude over the peak, in [0, 1].
     ``threshold`` is a fraction of the peak amplitude. A band that rises from silence to
     amplitude ``a`` and falls back emits about ``2 * a / threshold`` events, so events follow
     energy: loud bands speak, bands a filter merely leaks into stay nearly silent.
   * ``level="db"``: ``10 log10(power / peak)`` clipped at ``-top_db``; ``threshold`` is in dB
     (a contrast threshold, as a DVS camera's on log intensity). A band emits about
     ``(total rise + fall of its level in dB) / threshold`` events wherever it is within
     ``top_db`` of the peak, so quiet detail is kept, but a band that a tone leaks into at
     -20 dB fires almost as often as the tone's own band (``(top_db - 20) / top_db`` as often).

4. Delta modulation of every band's level at ``envelope_rate_hz`` (:func:`delta_modulate`):
   events ``(t, x, p)`` with ``t`` in microseconds from the clip's first sample, ``x`` the band
   (0 = lowest frequency), ``p`` 1 when the band gets louder, 0 when quieter; sensor size
   ``(n_bands, 1, 2)``.

In both cases events count the total variation of the levels in thresholds: halving the
threshold doubles the events (and the input's share of the energy bill); steady sound gives no
events. :meth:`AudioToEvents.levels` returns the levels, so
``np.abs(np.diff(levels, axis=0)).sum(axis=0) / threshold`` estimates a band's events before
encoding a whole data set. See ``docs/data.md`` for measured counts and how to choose.

Why not Tonic's ``MelButterFilterBank``: ``tonic.audio_transforms`` imports librosa at import
time, its bands overlap with a fixed relative width (2 / n_filters) instead of tiling the
spectrum, and it returns rectified band signals at the audio rate with no level or encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.io import wavfile
from scipy.signal import butter, sosfilt

from spikeenergy.data.delta import (
    DEFAULT_MAX_EVENTS_PER_SAMPLE,
    check_sample_rate,
    check_threshold,
    delta_modulate,
)

#: Default threshold per level kind: 2 % of the peak amplitude, or 2 dB.
DEFAULT_THRESHOLD = {"amplitude": 0.02, "db": 2.0}
_ENVELOPE_ORDER = 4


def hz_to_mel(freq_hz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(freq_hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_band_edges(n_bands: int, f_min_hz: float, f_max_hz: float) -> np.ndarray:
    """``n_bands + 1`` band edges in Hz, evenly spaced in mel from ``f_min_hz`` to ``f_max_hz``."""
    return mel_to_hz(np.linspace(hz_to_mel(f_min_hz), hz_to_mel(f_max_hz), n_bands + 1))


def _positive(name: str, value: float) -> None:
    if not math.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{name} must be a finite positive number; got {value!r}")


@dataclass(frozen=True)
class AudioToEvents:
    """Transform: a mono waveform at ``sample_rate_hz`` -> ``(t, x, p)`` events, x = band.

    See the module docstring for the pipeline and how ``threshold`` relates to event counts.
    ``threshold=None`` takes :data:`DEFAULT_THRESHOLD` for the chosen ``level``.
    """

    sample_rate_hz: float
    n_bands: int = 32
    f_min_hz: float = 100.0
    f_max_hz: float | None = None  # None: 0.45 x sample rate (below Nyquist)
    filter_order: int = 4
    envelope_rate_hz: float = 500.0
    envelope_cutoff_hz: float = 50.0
    level: Literal["amplitude", "db"] = "amplitude"
    threshold: float | None = None
    top_db: float = 50.0  # level="db" only: the floor below the clip's peak
    max_events_per_sample: int = DEFAULT_MAX_EVENTS_PER_SAMPLE

    def __post_init__(self) -> None:
        rate = check_sample_rate(self.sample_rate_hz)
        if isinstance(self.n_bands, bool) or not isinstance(self.n_bands, int) or self.n_bands < 1:
            raise ValueError(f"n_bands must be an integer >= 1; got {self.n_bands!r}")
        if (
            isinstance(self.filter_order, bool)
            or not isinstance(self.filter_order, int)
            or not 1 <= self.filter_order <= 12
        ):
            raise ValueError(
                f"filter_order must be an integer in [1, 12]; got {self.filter_order!r}"
            )
        _positive("f_min_hz", self.f_min_hz)
        f_max = self._f_max
        if not self.f_min_hz < f_max < rate / 2:
            raise ValueError(
                f"need f_min_hz < f_max_hz < sample_rate_hz / 2; got f_min_hz={self.f_min_hz}, "
                f"f_max_hz={f_max}, sample_rate_hz={rate}"
            )
        _positive("envelope_rate_hz", self.envelope_rate_hz)
        if self.envelope_rate_hz > rate:
            raise ValueError(
                f"envelope_rate_hz ({self.envelope_rate_hz}) cannot exceed the audio rate ({rate})"
            )
        _positive("envelope_cutoff_hz", self.envelope_cutoff_hz)
        if self.envelope_cutoff_hz >= self.envelope_rate_hz / 2:
            raise ValueError(
                f"envelope_cutoff_hz ({self.envelope_cutoff_hz}) must be below half of "
                f"envelope_rate_hz ({self.envelope_rate_hz}), or the envelope aliases"
            )
        if self.level not in DEFAULT_THRESHOLD:
            raise ValueError(f"level must be 'amplitude' or 'db'; got {self.level!r}")
        check_threshold(self.resolved_threshold)
        _positive("top_db", self.top_db)

    @property
    def resolved_threshold(self) -> float:
        """``threshold``, or the default for ``level`` when it is None."""
        if self.threshold is None:
            return DEFAULT_THRESHOLD[self.level]
        return float(self.threshold)

    @property
    def sensor_size(self) -> tuple[int, int, int]:
        """Tonic sensor size of the events: ``(n_bands, 1, 2)``."""
        return (self.n_bands, 1, 2)

    @property
    def _f_max(self) -> float:
        f_max = 0.45 * float(self.sample_rate_hz) if self.f_max_hz is None else self.f_max_hz
        _positive("f_max_hz", f_max)
        return float(f_max)

    @property
    def band_edges_hz(self) -> np.ndarray:
        """The ``n_bands + 1`` mel-spaced band edges in Hz."""
        return mel_band_edges(self.n_bands, self.f_min_hz, self._f_max)

    @cached_property
    def _filters(self) -> tuple[list[np.ndarray], np.ndarray]:
        """(band-pass SOS per band, envelope low-pass SOS), designed once per instance."""
        edges = self.band_edges_hz
        fs = float(self.sample_rate_hz)
        bands = [
            butter(self.filter_order, [lo, hi], btype="bandpass", fs=fs, output="sos")
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ]
        lowpass = butter(_ENVELOPE_ORDER, self.envelope_cutoff_hz, fs=fs, output="sos")
        return bands, lowpass

    def band_power(self, audio: np.ndarray) -> np.ndarray:
        """Low-passed band power, ``(envelope samples, n_bands)``, in squared input units."""
        x = np.asarray(audio, dtype=np.float64)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 1:
            raise ValueError(
                f"audio must be mono, shape (samples,) or (samples, 1); got {x.shape} "
                "(mix the channels down, e.g. audio.mean(axis=1), before encoding)"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(
                f"audio holds a non-finite value at sample {int(np.argmax(~np.isfinite(x)))}; "
                "clean it before encoding"
            )
        bands_sos, lowpass = self._filters
        n = x.shape[0]
        if n == 0:
            return np.zeros((0, self.n_bands))
        ratio = float(self.sample_rate_hz) / float(self.envelope_rate_hz)
        idx = np.floor(np.arange(math.floor((n - 1) / ratio) + 1) * ratio).astype(np.int64)
        power = np.empty((idx.size, self.n_bands))
        for k, sos in enumerate(bands_sos):  # one band at a time: memory O(samples), not x bands
            power[:, k] = sosfilt(lowpass, sosfilt(sos, x) ** 2)[idx]
        return np.maximum(power, 0.0)  # the low-pass can undershoot zero after an offset

    def levels(self, audio: np.ndarray) -> np.ndarray:
        """Band levels fed to the delta encoder, ``(envelope samples, n_bands)``.

        ``level="amplitude"``: RMS amplitude over the clip's peak, in [0, 1]. ``level="db"``:
        dB relative to the peak, in [-top_db, 0]. A silent clip gives constant levels (no events).
        """
        power = self.band_power(audio)
        peak = float(power.max()) if power.size else 0.0
        if self.level == "amplitude":
            return np.sqrt(power / peak) if peak > 0 else np.zeros_like(power)
        if peak <= 0:
            return np.full_like(power, -float(self.top_db))
        with np.errstate(divide="ignore"):
            db = 10.0 * np.log10(power / peak)
        return np.maximum(db, -float(self.top_db))

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Audio samples -> UP/DOWN events (a Tonic structured array; see the class)."""
        return delta_modulate(
            self.levels(audio),
            self.envelope_rate_hz,
            self.resolved_threshold,
            max_events_per_sample=self.max_events_per_sample,
        )

    def encode_wav(self, path: str | Path) -> np.ndarray:
        """Events of a mono WAV file, whose sample rate must be ``sample_rate_hz``."""
        audio, rate = load_wav(path)
        if rate != float(self.sample_rate_hz):
            raise ValueError(
                f"{path}: sampled at {rate:g} Hz, but this encoder expects "
                f"{float(self.sample_rate_hz):g} Hz; resample the file or build "
                f"AudioToEvents(sample_rate_hz={rate:g}, ...)"
            )
        return self(audio)


def load_wav(path: str | Path) -> tuple[np.ndarray, float]:
    """(mono float64 waveform, sample rate in Hz) of a WAV file, via ``scipy.io.wavfile``.

    Integer PCM is scaled to [-1, 1); a multi-channel file raises (mix it down first).
    """
    rate, data = wavfile.read(str(path))
    if data.ndim == 2 and data.shape[1] == 1:
        data = data[:, 0]
    if data.ndim != 1:
        raise ValueError(
            f"{path}: {data.shape[1]} channels; spikeenergy encodes mono audio "
            "(mix down, e.g. data.mean(axis=1), and pass the array to AudioToEvents)"
        )
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        scale = float(-info.min) if info.min < 0 else float(info.max + 1) / 2
        offset = 0.0 if info.min < 0 else scale  # unsigned 8-bit PCM is centred on 128
        return (data.astype(np.float64) - offset) / scale, float(rate)
    return data.astype(np.float64), float(rate)
