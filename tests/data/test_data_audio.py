"""Audio front end: mel filterbank -> band levels -> delta events."""

import numpy as np
import pytest
from scipy.io import wavfile

from spikeenergy.data import EventsToFrames, FrameConfig, validate_events
from spikeenergy.data.audio import AudioToEvents, hz_to_mel, load_wav, mel_band_edges, mel_to_hz

SR = 8000.0


def tone(freq_hz: float, seconds: float = 1.0, ramp_s: float = 0.01) -> np.ndarray:
    """A unit sine with linear 10 ms on/off ramps (no broadband click at the edges)."""
    t = np.arange(int(seconds * SR)) / SR
    env = np.minimum(1.0, t / ramp_s) * np.minimum(1.0, (t[-1] - t) / ramp_s)
    return env * np.sin(2 * np.pi * freq_hz * t)


def test_mel_scale_and_band_edges():
    # HTK mel: 2595 log10(1 + 700/700) = 2595 log10(2) = 781.17 mel at 700 Hz
    assert hz_to_mel(700.0) == pytest.approx(781.17, abs=0.01)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel([0.0, 100.0, 3600.0])), [0.0, 100.0, 3600.0])
    edges = mel_band_edges(32, 100.0, 3600.0)
    assert edges.shape == (33,)
    assert edges[0] == pytest.approx(100)
    assert edges[-1] == pytest.approx(3600)
    np.testing.assert_allclose(np.diff(hz_to_mel(edges)), np.diff(hz_to_mel(edges))[0])
    # default f_max: 0.45 x 8 kHz = 3.6 kHz
    np.testing.assert_allclose(AudioToEvents(SR).band_edges_hz, edges)


@pytest.mark.parametrize("band", [0, 3, 12, 20, 31])
def test_pure_tone_fires_mostly_its_own_band(band):
    enc = AudioToEvents(SR)
    edges = enc.band_edges_hz
    ev = enc(tone(np.sqrt(edges[band] * edges[band + 1])))  # geometric centre of the band
    validate_events(ev, enc.sensor_size)
    counts = np.bincount(ev["x"], minlength=enc.n_bands)
    total = counts.sum()
    assert counts.argmax() == band
    assert counts[band] >= 0.5 * total  # most events in the tone's band
    assert counts[max(0, band - 1) : band + 2].sum() >= 0.95 * total  # nearly all within +-1
    far = np.abs(np.arange(enc.n_bands) - band) >= 3
    assert counts[far].sum() == 0


@pytest.mark.parametrize("thr", [0.01, 0.02, 0.05])
def test_amplitude_events_scale_with_threshold(thr):
    # the tone's band amplitude rises from 0 to the clip's peak (1 after normalisation), so it
    # crosses 1/thr levels on the way up: 100, 50, 20 UP events (+-5 % for the envelope ripple)
    enc = AudioToEvents(SR, threshold=thr)
    band = 12
    edges = enc.band_edges_hz
    ev = enc(tone(np.sqrt(edges[band] * edges[band + 1])))
    up = int(np.sum((ev["x"] == band) & (ev["p"] == 1)))
    assert abs(up - 1 / thr) <= 0.05 / thr + 1


@pytest.mark.parametrize("thr", [1.0, 2.0, 5.0])
def test_db_events_scale_with_threshold(thr):
    # in dB the band climbs from the floor (-top_db = -50 dB) to 0 dB: 50/thr UP events
    enc = AudioToEvents(SR, level="db", threshold=thr)
    band = 12
    edges = enc.band_edges_hz
    ev = enc(tone(np.sqrt(edges[band] * edges[band + 1])))
    up = int(np.sum((ev["x"] == band) & (ev["p"] == 1)))
    assert abs(up - 50 / thr) <= 0.05 * 50 / thr + 1
    assert enc.resolved_threshold == thr
    assert AudioToEvents(SR, level="db").resolved_threshold == 2


def test_levels_are_gain_invariant_and_silence_is_quiet():
    rng = np.random.default_rng(0)
    audio = rng.normal(size=4000) * np.hanning(4000)
    enc = AudioToEvents(SR)
    ev = enc(audio)
    assert len(ev) > 100
    # a power-of-two gain scales every filter operation exactly: identical events
    louder = enc(audio * 2.0**10)
    for f in ("t", "x", "p"):
        np.testing.assert_array_equal(louder[f], ev[f])
    lv = enc.levels(audio)
    # 4000 / 16 samples
    assert lv.shape == (250, 32)
    assert lv.max() == 1.0
    assert lv.min() >= 0
    db = AudioToEvents(SR, level="db").levels(audio)
    assert db.max() == 0.0
    assert db.min() >= -50.0
    assert len(enc(np.zeros(2000))) == 0
    assert len(enc(np.zeros(0))) == 0
    assert len(AudioToEvents(SR, level="db")(np.zeros(2000))) == 0


def test_events_bin_into_frames_of_the_band_count():
    enc = AudioToEvents(SR, n_bands=16)
    ev = enc(tone(500.0, seconds=0.5))
    frames = EventsToFrames(enc.sensor_size, FrameConfig(n_time_bins=10))(ev)
    assert frames.shape == (10, 2, 16)
    assert frames.sum() == len(ev)


def test_wav_files_round_trip_and_rate_is_checked(tmp_path):
    audio = tone(1000.0, seconds=0.5)
    pcm = np.round(audio * 20000).astype(np.int16)
    path = tmp_path / "digit.wav"
    wavfile.write(path, int(SR), pcm)
    back, rate = load_wav(path)
    assert rate == SR
    np.testing.assert_allclose(back, pcm / 32768.0)
    enc = AudioToEvents(SR)
    for f in ("t", "x", "p"):
        np.testing.assert_array_equal(enc.encode_wav(path)[f], enc(pcm)[f])
    with pytest.raises(ValueError, match="sampled at 8000 Hz, but this encoder expects 16000 Hz"):
        AudioToEvents(16000.0).encode_wav(path)
    wavfile.write(tmp_path / "stereo.wav", int(SR), np.stack([pcm, pcm], axis=1))
    with pytest.raises(ValueError, match="2 channels"):
        load_wav(tmp_path / "stereo.wav")


def test_bad_audio_and_options_raise_clear_errors():
    enc = AudioToEvents(SR)
    with pytest.raises(ValueError, match="mono"):
        enc(np.zeros((100, 2)))
    with pytest.raises(ValueError, match="non-finite value at sample 3"):
        enc(np.array([0.0, 0.1, 0.2, np.nan]))
    bad = [
        ({"sample_rate_hz": float("nan")}, "sample_rate_hz"),
        ({"f_max_hz": 4000.0}, "f_max_hz < sample_rate_hz / 2"),
        ({"f_min_hz": 5000.0, "f_max_hz": 3000.0}, "f_min_hz < f_max_hz"),
        ({"envelope_cutoff_hz": 300.0}, "below half of envelope_rate_hz"),
        ({"envelope_rate_hz": 16000.0}, "cannot exceed the audio rate"),
        ({"level": "mel"}, "level must be"),
        ({"threshold": 0.0}, "threshold must be positive"),
        ({"n_bands": 0}, "n_bands"),
        ({"filter_order": 0}, "filter_order"),
        ({"top_db": -3.0}, "top_db"),
    ]
    for kwargs, msg in bad:
        with pytest.raises(ValueError, match=msg):
            AudioToEvents(**{"sample_rate_hz": SR, **kwargs})
