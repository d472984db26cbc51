import io
import shutil
from pathlib import Path
from typing import Protocol

import numpy as np
import pytest
import soundfile as sf

import opso
from opso.adapters.memory import InMemoryAudioIO
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.domain.audio import Audio
from opso.domain.errors import AudioWriteError, OpsoLoadAudioInputError, OpsoLoadAudioInputTooLong
from opso.ports.audio_io import AudioReader, AudioWriter


def test_short_recording_known_sample_counts(short_moth: Path) -> None:
    path = short_moth
    native = opso.Audio.from_file(path)
    assert len(native.samples) == 47104 and native.sample_rate == 48000
    resampled = opso.Audio.from_file(path, sample_rate=22050)
    assert len(resampled.samples) == 21638 and resampled.sample_rate == 22050
    from_str = opso.Audio.from_file(str(path), sample_rate=22050)
    from_bytes = opso.Audio.from_bytesio(io.BytesIO(path.read_bytes()), sample_rate=22050)
    assert np.allclose(from_str.samples, resampled.samples, atol=1e-7)
    assert np.allclose(from_bytes.samples, resampled.samples, atol=1e-7)
    assert native.duration() == pytest.approx(47104 / 48000)
    assert float(np.sqrt(np.mean(native.samples.astype(np.float64) ** 2))) == pytest.approx(
        0.0220151, rel=1e-5
    )


def test_mp3_too_long_is_rejected_from_header(oss_audio: Path) -> None:
    with pytest.raises(OpsoLoadAudioInputTooLong, match=r"silence_10s\.mp3"):
        opso.Audio.from_file(oss_audio / "silence_10s.mp3", max_duration=5)
    assert opso.Audio.from_file(oss_audio / "silence_10s.mp3").duration() == pytest.approx(10.0)


def test_stereo_is_mixed_down_to_the_channel_mean(oss_audio: Path) -> None:
    a = opso.Audio.from_file(oss_audio / "stereo.wav")
    assert np.allclose(a.samples, 0.5)


def test_partial_read_matches_full_read(oss_audio: Path) -> None:
    reader = SoundfileAudioIO()
    full = reader.read(oss_audio / "1min_first20s.wav")
    part = reader.read(oss_audio / "1min_first20s.wav", offset=12.5, duration=2.0)
    assert np.array_equal(part.samples, full.trim(12.5, 14.5).samples)


@pytest.mark.parametrize("kind", ["directory", "text", "random", "empty", "truncated"])
def test_unreadable_inputs_raise_load_error_naming_the_file(
    kind: str, tmp_path: Path, oss_audio: Path
) -> None:
    target = tmp_path / f"{kind}.wav"
    if kind == "directory":
        target.mkdir()
    elif kind == "text":
        target.write_text("not audio at all")
    elif kind == "random":
        target.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "empty":
        shutil.copy(oss_audio / "empty_2c.wav", target)
    else:
        target.write_bytes((oss_audio / "1min_first20s.wav").read_bytes()[:30])
    with pytest.raises(OpsoLoadAudioInputError, match=str(target)):
        opso.Audio.from_file(target)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.wav"):
        opso.Audio.from_file(tmp_path / "nope.wav")


@pytest.mark.parametrize(
    "bad", [{"sample_rate": 0}, {"sample_rate": -1}, {"resample_type": "nearest"}]
)
def test_bad_read_arguments(bad: dict[str, object], short_moth: Path) -> None:
    with pytest.raises(ValueError, match=r"sample_rate|resample_type"):
        opso.Audio.from_file(short_moth, **bad)  # type: ignore[arg-type]


def test_save_round_trip_and_atomic_failure(tmp_path: Path) -> None:
    a = opso.Audio(np.linspace(-0.5, 0.5, 800), 8000)
    a.save(tmp_path / "x.flac")
    back = opso.Audio.from_file(tmp_path / "x.flac")
    assert back.sample_rate == 8000 and np.allclose(back.samples, a.samples, atol=1 / 32768)
    with pytest.raises(AudioWriteError, match="suffix"):
        a.save(tmp_path / "x.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.flac"]


def test_interrupted_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_write(self: sf.SoundFile, data: object) -> None:
        raise RuntimeError("disk full")  # after libsndfile wrote the header

    monkeypatch.setattr(sf.SoundFile, "write", broken_write)
    (tmp_path / "keep.wav").write_bytes(b"old content")
    with pytest.raises(AudioWriteError, match="disk full"):
        SoundfileAudioIO().write(Audio(np.zeros(10), 10), tmp_path / "keep.wav")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]
    assert (tmp_path / "keep.wav").read_bytes() == b"old content"


class AudioIO(AudioReader, AudioWriter, Protocol):
    pass


@pytest.fixture(params=["soundfile", "memory"])
def audio_io(request: pytest.FixtureRequest) -> AudioIO:
    io_: AudioIO = SoundfileAudioIO() if request.param == "soundfile" else InMemoryAudioIO()
    return io_


def test_contract_write_then_read(audio_io: AudioIO, tmp_path: Path) -> None:
    """The same assertions hold for the real adapter and the in-memory one."""
    t = np.arange(16000) / 16000
    audio = Audio(0.5 * np.sin(2 * np.pi * 440 * t), 16000)
    path = tmp_path / "tone.wav"
    audio_io.write(audio, path)
    info = audio_io.info(path)
    assert (info.sample_rate, info.channels, info.frames) == (16000, 1, 16000)
    back = audio_io.read(path)
    assert np.allclose(back.samples, audio.samples, atol=1e-4)
    window = audio_io.read(path, offset=0.25, duration=0.5)
    assert len(window.samples) == 8000
    assert np.allclose(window.samples, audio.samples[4000:12000], atol=1e-4)
    assert len(audio_io.read(path, sample_rate=8000).samples) == 8000
    with pytest.raises(OpsoLoadAudioInputTooLong):
        audio_io.read(path, max_duration=0.5)
    with pytest.raises(FileNotFoundError):
        audio_io.read(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="offset"):
        audio_io.read(path, offset=2.0)
