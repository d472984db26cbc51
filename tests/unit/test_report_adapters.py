from pathlib import Path

import numpy as np
from PIL import Image

from opso.adapters.html_report import HtmlReportPage
from opso.adapters.matplotlib_report import MatplotlibReportFigures
from opso.domain.audio import Audio
from opso.domain.spectrogram import Spectrogram
from opso.ports.report import Box, ReportSection


def test_report_page_escapes_text_and_links_files(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    HtmlReportPage().write(
        [ReportSection("Step <1>", "a & b", images=["x.png"], files=["t.csv"])], page, title="T"
    )
    html = page.read_text()
    assert "Step &lt;1&gt;" in html and "a &amp; b" in html
    assert '<img src="x.png"' in html and '<a href="t.csv">' in html


def test_figures_write_images(tmp_path: Path) -> None:
    figs = MatplotlibReportFigures()
    audio = Audio(np.random.default_rng(0).normal(size=8000) * 0.1, 8000)
    figs.detections(
        Spectrogram.from_audio(audio),
        [Box(0.1, 0.5, 500, 1500, "owl")],
        tmp_path / "d.png",
        title="t",
    )
    figs.curves({"loss": [1.0, 0.5, 0.2]}, tmp_path / "c.png", xlabel="epoch", title="t")
    figs.series(
        np.array([0.0, 1.0, 2.0]),
        {"s": np.array([1.0, 2.0, 2.0])},
        tmp_path / "s.png",
        ylabel="score",
        title="t",
    )
    for name in ["d.png", "c.png", "s.png"]:
        with Image.open(tmp_path / name) as im:
            assert im.width > 200 and im.height > 100
    # the detection box is drawn: the image differs from the same plot without it
    figs.detections(Spectrogram.from_audio(audio), [], tmp_path / "plain.png", title="t")
    with Image.open(tmp_path / "d.png") as a, Image.open(tmp_path / "plain.png") as b:
        assert np.any(np.asarray(a) != np.asarray(b))
