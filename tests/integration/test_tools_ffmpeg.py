"""The ffmpeg adapter and the spec's convolve_file / mixdown_with_delays on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray

import opso
from opso.adapters.ffmpeg_tools import FfmpegAudioTools
from opso.domain.errors import AudioToolError

SR = 8000


def _write(path: Path, samples: NDArray[np.float32]) -> Path:
    sf.write(path, samples, SR, subtype="FLOAT")
    return path


def _tone(freq: float, seconds: float, amp: float = 0.25) -> NDArray[np.float32]:
    t = np.arange(round(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _read(path: Path) -> NDArray[np.float64]:
    data, sr = sf.read(path, dtype="float64")
    assert sr == SR
    return np.asarray(data)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_mixdown_honours_delays_and_levels(tmp_path: Path) -> None:
    a = _tone(440, 1.0)
    b = _tone(660, 0.5)
    fa, fb = _write(tmp_path / "a.wav", a), _write(tmp_path / "b.wav", b)
    out = tmp_path / "mix.wav"
    opso.mixdown_with_delays([fa, fb], out, delays=[0.0, 0.25], levels=[0.5, 2.0])
    y = _read(out)
    assert len(y) == len(a)  # duration="first"
    expected = 0.5 * a.astype(np.float64)
    d = round(0.25 * SR)
    expected[d : d + len(b)] += 2.0 * b
    np.testing.assert_allclose(y, expected, atol=1e-4)


def test_mixdown_default_levels_average_the_inputs(tmp_path: Path) -> None:
    a, b = _tone(440, 0.5), _tone(550, 0.5)
    files = [_write(tmp_path / "a.wav", a), _write(tmp_path / "b.wav", b)]
    out = tmp_path / "mix.wav"
    opso.mixdown_with_delays(files, out)
    np.testing.assert_allclose(_read(out), (a + b) / 2.0, atol=1e-4)


def test_mixdown_longest_pads_with_the_delay(tmp_path: Path) -> None:
    a, b = _tone(440, 0.5), _tone(550, 0.5)
    files = [_write(tmp_path / "a.wav", a), _write(tmp_path / "b.wav", b)]
    out = tmp_path / "mix.wav"
    opso.mixdown_with_delays(files, out, delays=[0, 1.0], duration="longest")
    y = _read(out)
    assert len(y) == round(1.5 * SR)
    assert np.max(np.abs(y[round(0.5 * SR) : SR])) < 1e-6  # silence between the two


def test_mixdown_txt_listing_names_the_files(tmp_path: Path) -> None:
    files = [_write(tmp_path / "a.wav", _tone(440, 0.2)), _write(tmp_path / "b.wav", _tone(1, 0.2))]
    out = tmp_path / "mix.wav"
    opso.mixdown_with_delays(files, out, create_txt_file=True)
    listing = (tmp_path / "mix.wav_info.txt").read_text().splitlines()
    assert listing[1:] == [str(f) for f in files]


@pytest.mark.parametrize(
    "name", ["x; rm -rf y.wav", "$(touch z).wav", "-y.wav", "a:b.wav", "quote ' \" `ls`.wav"]
)
def test_hostile_file_names_are_only_names(tmp_path: Path, name: str) -> None:
    victim = tmp_path / "y.wav"
    _write(victim, _tone(440, 0.1))
    src = _write(tmp_path / name, _tone(440, 0.2))
    out = tmp_path / f"out {name}"
    opso.mixdown_with_delays([src], out, levels=[1.0])
    np.testing.assert_allclose(_read(out), _tone(440, 0.2), atol=1e-4)
    assert victim.exists()
    assert not (tmp_path / "z").exists() and not Path("z").exists()
    assert _leftovers(tmp_path) == []


def test_convolve_with_an_impulse_response(tmp_path: Path) -> None:
    x = (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)
    ir = np.zeros(800, dtype=np.float32)
    ir[0], ir[400] = 1.0, 0.5
    out = tmp_path / "wet.wav"
    log = opso.convolve_file(
        _write(tmp_path / "dry.wav", x), out, _write(tmp_path / "ir.wav", ir), input_gain=0.5
    )
    assert isinstance(log, str)
    y = _read(out)
    assert len(y) == len(x)
    reference = np.convolve(x, ir)[: len(y)]
    assert np.corrcoef(y, reference)[0, 1] > 0.99
    assert np.corrcoef(y, x)[0, 1] < 0.95  # the echo changed the signal


def test_ffmpeg_failure_carries_its_message_and_leaves_no_file(tmp_path: Path) -> None:
    audio = _write(tmp_path / "a.wav", _tone(440, 0.2))
    not_audio = tmp_path / "ir.wav"
    not_audio.write_text("this is not audio")
    out = tmp_path / "out.wav"
    with pytest.raises(AudioToolError, match=r"ffmpeg failed .*ir\.wav"):
        opso.convolve_file(audio, out, not_audio)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_failure_keeps_an_existing_output(tmp_path: Path) -> None:
    audio = _write(tmp_path / "a.wav", _tone(440, 0.2))
    out = tmp_path / "out.wav"
    out.write_bytes(b"previous result")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(AudioToolError):
        FfmpegAudioTools().mixdown([audio, bad], out, delays=[0, 0], levels=[1, 1])
    assert out.read_bytes() == b"previous result"


def test_missing_ffmpeg_is_a_clear_error(tmp_path: Path) -> None:
    audio = _write(tmp_path / "a.wav", _tone(440, 0.2))
    tools = FfmpegAudioTools(executable="opso-no-such-ffmpeg")
    with pytest.raises(AudioToolError, match=r"not found on PATH.*install ffmpeg"):
        tools.mixdown([audio], tmp_path / "o.wav", delays=[0], levels=[1])
    assert not (tmp_path / "o.wav").exists()


def test_missing_input_and_bad_arguments(tmp_path: Path) -> None:
    audio = _write(tmp_path / "a.wav", _tone(440, 0.2))
    tools = FfmpegAudioTools()
    with pytest.raises(FileNotFoundError, match=r"nope\.wav"):
        tools.convolve(tmp_path / "nope.wav", tmp_path / "o.wav", audio)
    with pytest.raises(ValueError, match="one delay and one level per file"):
        tools.mixdown([audio], tmp_path / "o.wav", delays=[0, 1], levels=[1])
    with pytest.raises(ValueError, match="delays must be finite and >= 0"):
        tools.mixdown([audio], tmp_path / "o.wav", delays=[-1], levels=[1])
    with pytest.raises(ValueError, match="duration must be one of"):
        tools.mixdown([audio], tmp_path / "o.wav", delays=[0], levels=[1], duration="all")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_gain"):
        tools.convolve(audio, tmp_path / "o.wav", audio, input_gain=0)
    with pytest.raises(ValueError, match="at least one"):
        tools.mixdown([], tmp_path / "o.wav", delays=[], levels=[])


def test_verbose_prints_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audio = _write(tmp_path / "a b.wav", _tone(440, 0.2))
    opso.mixdown_with_delays([audio], tmp_path / "o.wav", verbose=1)
    printed = capsys.readouterr().out
    assert "amix=inputs=1" in printed and "'file:" in printed and ".part" not in printed
