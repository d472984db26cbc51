"""Split writes each recording's clips in its own sample format: same samples, same clip table."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

from opso.adapters.csv_tables import CsvTableWriter
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.files import AudioJob
from opso.app.split import AudioClips, SplitRecordings
from opso.domain.audio import FinalClip
from opso.domain.errors import OpsoLoadAudioInputError

SR = 8000


def _write(path: Path, samples: NDArray[np.generic], subtype: str, sr: int = SR) -> Path:
    sf.write(path, samples, sr, subtype=subtype)
    return path


def _split(
    source: Path,
    out: Path,
    *,
    clip_duration: float = 1.0,
    overlap: float = 0.0,
    final_clip: FinalClip = None,
    sample_rate: int | None = None,
    io: SoundfileAudioIO | None = None,
) -> list[dict[str, str]]:
    report = SplitRecordings(io or SoundfileAudioIO(), CsvTableWriter()).run(
        jobs=[AudioJob(source, "rec")],
        destination=out,
        clip_duration=clip_duration,
        clip_overlap=overlap,
        final_clip=final_clip,
        sample_rate=sample_rate,
    )
    assert report.failures == []
    with (out / "clips.csv").open() as fh:
        return list(csv.DictReader(fh))


def _int16_noise(seconds: float, seed: int = 0) -> NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    samples = rng.integers(-32768, 32768, round(seconds * SR)).astype(np.int16)
    samples[:4] = [-32768, 32767, -1, 0]  # the extremes survive too
    return samples


def test_int16_clips_are_the_source_slices_and_the_bytes_of_before(tmp_path: Path) -> None:
    stored = _int16_noise(3.5)
    source = _write(tmp_path / "rec.wav", stored, "PCM_16")
    rows = _split(source, tmp_path / "out", final_clip="remainder")
    assert [(r["clip"], r["begin_time"], r["end_time"]) for r in rows] == [
        ("rec_0s_1s.wav", "0.0", "1.0"),
        ("rec_1s_2s.wav", "1.0", "2.0"),
        ("rec_2s_3s.wav", "2.0", "3.0"),
        ("rec_3s_3.5s.wav", "3.0", "3.5"),
    ]
    io = SoundfileAudioIO()
    before = AudioClips(io.read(source), io)  # the float path every clip took before
    for r in rows:
        clip = tmp_path / "out" / r["clip"]
        begin, end = float(r["begin_time"]), float(r["end_time"])
        assert sf.info(clip).subtype == "PCM_16"
        got, rate = sf.read(clip, dtype="int16")
        assert rate == SR
        np.testing.assert_array_equal(got, stored[round(begin * SR) : round(end * SR)])
        before.write_clip(begin, end, tmp_path / "before.wav")
        assert clip.read_bytes() == (tmp_path / "before.wav").read_bytes()


@pytest.mark.parametrize(
    ("subtype", "dtype"),
    [("PCM_24", "int32"), ("PCM_32", "int32"), ("FLOAT", "float32"), ("DOUBLE", "float64")],
)
def test_clips_keep_the_source_subtype_and_its_values(
    tmp_path: Path, subtype: str, dtype: str
) -> None:
    rng = np.random.default_rng(1)
    if dtype.startswith("int"):
        shift = 8 if subtype == "PCM_24" else 0  # 24-bit samples read as int32 are << 8
        stored = (rng.integers(-(2**31), 2**31, 2 * SR) >> shift << shift).astype(np.int32)
    else:  # float files may hold values past +-1: a clip keeps them as they are
        stored = (rng.normal(scale=1.5, size=2 * SR)).astype(dtype)
    source = _write(tmp_path / "rec.wav", stored, subtype)
    rows = _split(source, tmp_path / "out")
    for r in rows:
        clip = tmp_path / "out" / r["clip"]
        assert sf.info(clip).subtype == subtype
        start = round(float(r["begin_time"]) * SR)
        np.testing.assert_array_equal(sf.read(clip, dtype=dtype)[0], stored[start : start + SR])


@pytest.mark.parametrize("final_clip", [None, "remainder", "full", "extend"])
@pytest.mark.parametrize("overlap", [0.0, 0.4])
def test_stored_samples_cut_as_audio_split_cuts_them(
    tmp_path: Path, final_clip: FinalClip, overlap: float
) -> None:
    stored = _int16_noise(2.3, seed=2)
    source = _write(tmp_path / "rec.wav", stored, "PCM_16")
    rows = _split(source, tmp_path / "out", overlap=overlap, final_clip=final_clip)
    audio = SoundfileAudioIO().read(source)
    clips = audio.split(1.0, overlap, final_clip)
    assert [(float(r["begin_time"]), float(r["end_time"])) for r in rows] == [
        (c["begin_time"], c["end_time"]) for c in clips
    ]
    for r, c in zip(rows, clips, strict=True):
        got = sf.read(tmp_path / "out" / r["clip"], dtype="float32")[0]
        np.testing.assert_array_equal(got, c["audio"].samples)


def test_resampled_clips_are_the_resampled_audio_in_the_source_subtype(tmp_path: Path) -> None:
    source = _write(tmp_path / "rec.wav", _int16_noise(2.0, seed=3) // 4, "PCM_16")
    rows = _split(source, tmp_path / "out", sample_rate=16000)
    audio = SoundfileAudioIO().read(source, sample_rate=16000)
    for r in rows:
        clip = tmp_path / "out" / r["clip"]
        assert sf.info(clip).samplerate == 16000 and sf.info(clip).subtype == "PCM_16"
        want = audio.trim(float(r["begin_time"]), float(r["end_time"])).samples
        np.testing.assert_allclose(sf.read(clip, dtype="float32")[0], want, atol=1 / 32768)


def test_stereo_clips_are_mixed_to_mono(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    stereo = rng.normal(scale=0.2, size=(2 * SR, 2)).astype(np.float32)
    source = _write(tmp_path / "rec.wav", stereo, "FLOAT")
    rows = _split(source, tmp_path / "out")
    mono = stereo.mean(axis=1, dtype=np.float32)
    for r in rows:
        clip = tmp_path / "out" / r["clip"]
        assert sf.info(clip).channels == 1 and sf.info(clip).subtype == "FLOAT"
        start = round(float(r["begin_time"]) * SR)
        np.testing.assert_array_equal(sf.read(clip, dtype="float32")[0], mono[start : start + SR])


def test_a_subtype_wav_cannot_hold_and_a_chosen_subtype_are_converted(tmp_path: Path) -> None:
    stored = (np.arange(2 * SR) % 256 - 128).astype(np.int16) << 8  # every 8-bit value
    source = tmp_path / "rec.flac"
    sf.write(source, stored, SR, subtype="PCM_S8")  # WAV has no signed 8-bit: 16-bit clips
    rows = _split(source, tmp_path / "out")
    clip = tmp_path / "out" / rows[1]["clip"]
    assert sf.info(clip).subtype == "PCM_16"
    np.testing.assert_array_equal(sf.read(clip, dtype="int16")[0], stored[SR:])
    rows = _split(source, tmp_path / "chosen", io=SoundfileAudioIO(subtype="FLOAT"))
    clip = tmp_path / "chosen" / rows[1]["clip"]
    assert sf.info(clip).subtype == "FLOAT"
    np.testing.assert_array_equal(sf.read(clip, dtype="float32")[0], stored[SR:] / 32768)


def test_compressed_sources_give_16_bit_clips(oss_audio: Path, tmp_path: Path) -> None:
    rows = _split(oss_audio / "silence_10s.mp3", tmp_path / "out", clip_duration=5.0)
    assert len(rows) == 2
    assert {sf.info(tmp_path / "out" / r["clip"]).subtype for r in rows} == {"PCM_16"}


def test_non_finite_float_samples_are_refused_as_before(tmp_path: Path) -> None:
    samples = np.zeros(2 * SR, np.float32)
    samples[SR + 8] = np.nan
    source = _write(tmp_path / "rec.wav", samples, "FLOAT")
    with pytest.raises(OpsoLoadAudioInputError, match=r"1 non-finite samples .* t=1\.001 s"):
        SoundfileAudioIO().read_clips(source)
