"""The batched measurement (each file read once, one FFT per segment) against the per-pair path.

The per-pair path is how delays were measured before: every window read on its own from disk and
every pair correlated by ``estimate_delay``. Both must give the same delays (to 1e-6 s) on the
real LOCA array and OpenSoundscape's synthetic five-recorder set, hence the same positions.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.localize import LocalizationReport
from opso.cli import main
from opso.container import Container
from opso.domain.localization import calc_speed_of_sound
from opso.domain.tdoa import estimate_delay

LOCA = {
    "coords": "LOCA_2021_aru_coords.csv",
    "detections": "LOCA_2021_detections.csv",
    "band": (7000.0, 10000.0),
    "settings": {"bandpass": {"zeep": (7000.0, 10000.0)}, "max_receiver_dist": 30.0},
}
ARU = {
    "coords": "aru_coords.csv",
    "detections": "localizer_preds.csv",
    "band": None,
    # synthetic recordings without metadata: their starts are known only to be equal
    "settings": {"max_receiver_dist": 100.0, "assume_aligned": True},
}


@pytest.fixture
def csvs(test_data: Path) -> Path:
    return test_data / "opensoundscape" / "csvs"


def _per_pair(report: LocalizationReport, audio: Path, band: tuple[float, float] | None) -> None:
    """Measure every kept pair as before, window by window, and compare."""
    reader = SoundfileAudioIO()
    speed = calc_speed_of_sound(20)
    array = report.receivers
    compared = 0
    for event in report.events:
        if not event.receivers:
            continue
        ref = reader.read(
            audio / Path(event.reference).name,
            offset=event.start_time,
            duration=event.end_time - event.start_time,
        )
        sr = ref.sample_rate
        for name, tdoa, score in zip(event.receivers, event.tdoas, event.cc_scores, strict=True):
            if name == event.reference:
                continue
            distance = array.distances()[array.index(event.reference), array.index(name)]
            max_delay = distance / speed + 2.0 / sr
            start = max(event.start_time - max_delay, 0.0)
            sig = reader.read(
                audio / Path(name).name,
                sample_rate=sr,
                offset=start,
                duration=event.end_time + max_delay - start,
            )
            one = estimate_delay(
                ref.samples,
                sig.samples,
                sample_rate=sr,
                band=band,
                max_delay=max_delay,
                # the times of the first samples read (windows start on a sample)
                offset=round(start * sr) / sr - round(event.start_time * sr) / sr,
            )
            assert tdoa == pytest.approx(one.delay, abs=1e-6)
            assert score == pytest.approx(one.score, abs=1e-4)
            compared += 1
    assert compared >= 20


@pytest.mark.parametrize("scene", [LOCA, ARU], ids=["LOCA", "aru"])
def test_batched_delays_and_positions_equal_the_per_pair_path(
    scene: dict[str, object], csvs: Path, oss_audio: Path
) -> None:
    report = (
        Container()
        .localize_events()
        .run(
            coordinates=csvs / str(scene["coords"]),
            detections=csvs / str(scene["detections"]),
            audio_dir=oss_audio,
            **scene["settings"],  # type: ignore[arg-type]
        )
    )
    _per_pair(report, oss_audio, scene["band"])  # type: ignore[arg-type]
    # and the positions are those of the vectorised solve of these delays
    done = [e for e in report.events if e.localized]
    times = np.full((len(done), len(report.receivers)), np.nan)
    for row, e in enumerate(done):
        times[row, [report.receivers.index(n) for n in e.receivers]] = e.tdoas
    again = report.receivers.localize(times)
    for row, e in enumerate(done):
        assert e.position is not None
        np.testing.assert_allclose(e.position, again.positions[row], atol=1e-9)


def test_gillette_finds_the_known_source(csvs: Path, oss_audio: Path) -> None:
    report = (
        Container()
        .localize_events()
        .run(
            coordinates=csvs / "aru_coords.csv",
            detections=csvs / "localizer_preds.csv",
            audio_dir=oss_audio,
            algorithm="gillette",
            max_receiver_dist=100,
            assume_aligned=True,
        )
    )
    assert sum(e.localized for e in report.events) == 5
    for e in report.events:
        assert e.position is not None and np.linalg.norm(e.position - [10, 15]) < 2.0
    (call,) = report.calls
    assert call.flag == "" and call.position is not None


def test_cli_compares_the_three_solvers(csvs: Path, oss_audio: Path, tmp_path: Path) -> None:
    rows = {}
    for algorithm in ("gps", "lstsq", "gillette"):
        out = tmp_path / f"{algorithm}.csv"
        result = CliRunner().invoke(
            main,
            [
                *("localize", "--coords", str(csvs / "aru_coords.csv")),
                *("--detections", str(csvs / "localizer_preds.csv")),
                *("--audio-dir", str(oss_audio), "--max-receiver-dist", "100", "--assume-aligned"),
                *("--algorithm", algorithm, "--speed-of-sound", "343.2", "-o", str(out)),
            ],
        )
        assert result.exit_code == 0, result.output
        rows[algorithm] = pd.read_csv(out).loc[0, ["x", "y"]].to_numpy(float)
    for xy in rows.values():
        assert np.linalg.norm(xy - [10, 15]) < 2.0


def test_recordings_are_opened_once(
    csvs: Path, oss_audio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    original = SoundfileAudioIO.read

    def counting(self: SoundfileAudioIO, source: Path, **kw: object) -> object:
        reads.append(Path(source).name)
        return original(self, source, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(SoundfileAudioIO, "read", counting)
    report = (
        Container()
        .localize_events()
        .run(
            coordinates=csvs / LOCA["coords"],  # type: ignore[operator]
            detections=csvs / LOCA["detections"],  # type: ignore[operator]
            audio_dir=oss_audio,
            **LOCA["settings"],  # type: ignore[arg-type]
        )
    )
    assert sum(e.localized for e in report.events) == 6
    assert sorted(reads) == [f"LOCA_2021_09_24_652_{i}.wav" for i in range(3, 9)]
