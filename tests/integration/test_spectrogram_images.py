"""Spectrograms of real recordings: known values, Pillow images, matplotlib plots, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from opso.adapters.matplotlib_plots import MatplotlibPlotter
from opso.adapters.pillow_images import PillowImages
from opso.api import Audio, MelSpectrogram, Spectrogram
from opso.cli import main
from opso.domain.errors import ImageReadError, ImageWriteError, SpectrogramParameterError


@pytest.fixture(scope="module")
def birds(birds_10s: Path, oss_audio: Path) -> Spectrogram:
    audio = Audio.from_file(birds_10s, sample_rate=22050).trim(0, 4)
    return Spectrogram.from_audio(audio)


def test_short_recording_known_shape(short_moth: Path) -> None:
    audio = Audio.from_file(short_moth, sample_rate=22050)
    spec = Spectrogram.from_audio(audio, overlap_samples=384)
    assert spec.spectrogram.shape == (257, 166)
    assert spec.frequencies.shape == (257,)
    assert spec.times.shape == (166,)
    assert spec.frequencies[-1] == 11025.0


def test_to_image_orients_and_shades_like_the_spec(oss_audio: Path) -> None:
    sample_rate = 22050
    t = np.arange(sample_rate) / sample_rate
    tone = Audio((0.5 * np.sin(2 * np.pi * 8000 * t)).astype(np.float32), sample_rate)
    spec = Spectrogram.from_audio(tone)
    image = spec.to_image()
    assert image.mode == "RGB"
    assert image.size == (spec.shape[1], spec.shape[0])  # (width, height)
    grey = np.asarray(image.convert("L"))
    darkest_row = int(np.argmin(grey.mean(axis=1)))
    tone_row = int(np.argmin(np.abs(spec.frequencies - 8000)))
    image_row = spec.shape[0] - 1 - tone_row  # high frequency near the top
    assert abs(darkest_row - image_row) <= 1  # neighbours of the tone's bin clip at -20 dB too
    assert grey[image_row].mean() < 10  # loud is dark
    quiet_row = spec.shape[0] - 1 - int(np.argmin(np.abs(spec.frequencies - 2000)))
    assert grey[quiet_row].mean() > 245  # quiet lower frequencies are white, further down


def test_to_image_resizes_to_height_width_and_modes(birds: Spectrogram) -> None:
    image = birds.to_image(shape=(224, 112), mode="L")
    assert image.size == (112, 224) and image.mode == "L"
    with pytest.raises(SpectrogramParameterError, match="mode"):
        birds.to_image(mode="CMYK")  # type: ignore[arg-type]
    with pytest.raises(SpectrogramParameterError, match="shape"):
        birds.to_image(shape=(0, 5))


def test_from_file_recovers_db_within_one_grey_level(birds: Spectrogram, tmp_path: Path) -> None:
    path = tmp_path / "birds.png"
    birds.to_image().save(path)
    back = Spectrogram.from_file(path)
    assert isinstance(back, Spectrogram)
    assert back.shape == birds.shape
    np.testing.assert_allclose(back.spectrogram, birds.spectrogram, atol=80 / 255)
    narrow = Spectrogram.from_file(path, spec_range=(-60, -40))
    assert narrow.decibel_limits == (-60.0, -40.0)


def test_cli_image_round_trips_axes_and_range(
    birds_10s: Path, oss_audio: Path, tmp_path: Path
) -> None:
    out = tmp_path / "clip.png"
    args = ["spectrogram", str(birds_10s), "-o", str(out), "--image-only"]
    result = CliRunner().invoke(
        main, [*args, "--start", "2", "--end", "4", "--db-range", "-90", "-30"]
    )
    assert result.exit_code == 0, result.output
    back = Spectrogram.from_file(out)
    audio = Audio.from_file(birds_10s).trim(2, 4)
    direct = Spectrogram.from_audio(audio, decibel_limits=(-90, -30))
    assert back.decibel_limits == (-90.0, -30.0)
    np.testing.assert_allclose(back.frequencies, direct.frequencies)
    np.testing.assert_allclose(back.times, direct.times + 2, atol=1e-6)
    assert back.shape == direct.shape


def test_not_an_image_and_missing_files(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image")
    with pytest.raises(ImageReadError, match=r"notes\.png"):
        Spectrogram.from_file(bogus)
    with pytest.raises(FileNotFoundError):
        Spectrogram.from_file(tmp_path / "missing.png")
    with pytest.raises(ImageWriteError, match="weird"):
        PillowImages().write(np.zeros((4, 4), np.uint8), tmp_path / "x.weird")
    assert not list(tmp_path.glob("*.weird")) and not list(tmp_path.glob(".x.weird*"))


def test_plot_writes_png_and_pdf_with_labelled_axes(birds: Spectrogram, tmp_path: Path) -> None:
    birds.plot(inline=False, fname=tmp_path / "p.png", show_colorbar=True)
    birds.plot(inline=False, fname=str(tmp_path / "p.pdf"))
    with Image.open(tmp_path / "p.png") as image:
        assert image.size == (800, 400)
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")
    fig = MatplotlibPlotter().figure(birds, show_colorbar=True, title="birds")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "frequency (Hz)"
    assert ax.get_ylim()[1] >= 11025 - 50 and ax.get_xlim()[1] >= birds.times[-1]
    assert len(fig.axes) == 2  # the colour bar


def test_cli_plot_on_a_real_file(oss_audio: Path, tmp_path: Path) -> None:
    out = tmp_path / "plot.png"
    args = [
        "spectrogram",
        str(oss_audio / "1min_first20s.wav"),
        "-o",
        str(out),
        "--end",
        "5",
        "--mel",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (800, 400)


def test_mel_spectrogram_public_api(birds_10s: Path, oss_audio: Path, tmp_path: Path) -> None:
    audio = Audio.from_file(birds_10s).trim(0, 2)
    mel = MelSpectrogram.from_audio(audio, n_mels=48, fmax=12000)
    assert isinstance(mel, Spectrogram)
    assert mel.to_image().size == (mel.shape[1], 48)
    mel.plot(inline=False, fname=tmp_path / "mel.png")
    assert (tmp_path / "mel.png").stat().st_size > 1000


def test_spec_module_names_are_the_public_classes() -> None:
    import opso
    import opso.spectrogram

    assert opso.spectrogram.Spectrogram is Spectrogram
    assert opso.spectrogram.MelSpectrogram is MelSpectrogram
    assert getattr(opso, "Spectrogram") is Spectrogram  # noqa: B009 - lazy module attribute
