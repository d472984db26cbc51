"""``opso spectrogram`` and the RenderSpectrogram use-case over in-memory adapters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from opso.adapters.memory import InMemoryAudioIO, InMemoryImages, InMemoryPlotter
from opso.app.spectrogram import RenderSpectrogram
from opso.cli import main
from opso.container import Container
from opso.domain.audio import Audio
from opso.domain.errors import SpectrogramParameterError
from opso.domain.spectrogram import MelSpectrogram, Spectrogram

SOURCE = Path("/rec/tone.wav")


def _tone_audio(seconds: float = 4.0, sample_rate: int = 16000) -> Audio:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return Audio((0.5 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32), sample_rate)


@pytest.fixture
def fakes() -> tuple[Container, InMemoryImages, InMemoryPlotter]:
    c = Container()
    images, plotter = InMemoryImages(), InMemoryPlotter()
    c.audio_io.override(InMemoryAudioIO({SOURCE: _tone_audio()}))
    c.spectrogram_images.override(images)
    c.spectrogram_plotter.override(plotter)
    return c, images, plotter


def test_plot_covers_the_time_range_in_recording_time(
    fakes: tuple[Container, InMemoryImages, InMemoryPlotter],
) -> None:
    c, _, plotter = fakes
    args = ["spectrogram", str(SOURCE), "-o", "/out/p.png", "--start", "1", "--end", "3"]
    result = CliRunner().invoke(main, [*args, "--bandpass", "2000", "4000"], obj=c)
    assert result.exit_code == 0, result.output
    spec = plotter.plots[Path("/out/p.png")]
    assert spec.times[0] >= 1.0 and spec.times[-1] <= 3.0
    assert spec.frequencies[0] >= 2000 and spec.frequencies[-1] <= 4000
    assert spec.frequencies[np.argmax(spec.spectrogram.mean(axis=1))] == pytest.approx(3000, abs=32)
    assert "wrote plot /out/p.png" in result.output


def test_image_only_writes_tagged_pixels(
    fakes: tuple[Container, InMemoryImages, InMemoryPlotter],
) -> None:
    c, images, plotter = fakes
    args = [
        "spectrogram",
        str(SOURCE),
        "-o",
        "/out/i.png",
        "--image-only",
        "--db-range",
        "-90",
        "-10",
    ]
    result = CliRunner().invoke(
        main, [*args, "--window-samples", "256", "--overlap-samples", "0"], obj=c
    )
    assert result.exit_code == 0, result.output
    pixels, tags = images.files[Path("/out/i.png")]
    assert pixels.shape == (129, 250)
    assert tags["opso:spec_range"] == "-90 -10"
    assert not plotter.plots
    back = Spectrogram.from_image(pixels, tags)
    assert back.frequencies[-1] == 8000.0


def test_mel_and_shape_options(fakes: tuple[Container, InMemoryImages, InMemoryPlotter]) -> None:
    c, images, _ = fakes
    args = ["spectrogram", str(SOURCE), "-o", "/out/m.png", "--mel", "--n-mels", "20"]
    result = CliRunner().invoke(main, [*args, "--image-only", "--shape", "40", "30"], obj=c)
    assert result.exit_code == 0, result.output
    assert images.files[Path("/out/m.png")][0].shape == (40, 30)
    result = CliRunner().invoke(
        main, ["spectrogram", str(SOURCE), "-o", "/o.png", "--shape", "4", "4"], obj=c
    )
    assert result.exit_code == 2 and "--image-only" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bandpass", "5000", "1000"], "min_f=5000.0, max_f=1000.0"),
        (["--bandpass", "0", "9000"], "Nyquist"),
        (["--overlap-samples", "512"], "overlap_samples"),
        (["--window-samples", "1"], "window_samples must be >= 2"),
        (["--start", "3", "--end", "2"], "start=3.0, end=2.0"),
        (["--window-samples", "200000"], "shorter than one window"),
    ],
)
def test_bad_input_exits_1_with_the_value(
    fakes: tuple[Container, InMemoryImages, InMemoryPlotter], extra: list[str], message: str
) -> None:
    c, _, _ = fakes
    result = CliRunner().invoke(main, ["spectrogram", str(SOURCE), "-o", "/o.png", *extra], obj=c)
    assert result.exit_code == 1, result.output
    assert message in result.output


def test_use_case_returns_mel_spectrogram() -> None:
    images, plotter = InMemoryImages(), InMemoryPlotter()
    use_case = RenderSpectrogram(InMemoryAudioIO({SOURCE: _tone_audio()}), images, plotter)
    spec = use_case.run(source=SOURCE, destination=Path("/o.pdf"), mel=True, n_mels=12)
    assert isinstance(spec, MelSpectrogram) and spec.shape[0] == 12
    assert plotter.plots[Path("/o.pdf")] is spec
    with pytest.raises(SpectrogramParameterError, match="start"):
        use_case.run(source=SOURCE, destination=Path("/o.pdf"), start=-1)


def test_import_opso_and_its_spectrogram_names_stay_light() -> None:
    code = (
        "import sys, opso, opso.cli; opso.Spectrogram; opso.MelSpectrogram; "
        "print(sorted(m for m in ('torch', 'PIL', 'matplotlib', 'librosa') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
