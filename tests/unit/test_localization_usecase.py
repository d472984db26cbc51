import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import signal

from opso.adapters.memory import InMemoryAudioIO, InMemoryMetadataReader, InMemoryTables
from opso.app.localize import (
    POSITION_COLUMNS,
    LocalizeEvents,
    read_coordinates,
    read_detections,
)
from opso.cli import main
from opso.container import Container
from opso.domain.audio import Audio
from opso.domain.errors import LocalizationError
from opso.domain.localization import calc_speed_of_sound
from opso.domain.receivers import ReceiverArray
from opso.domain.recording_info import RecordingInfo
from opso.ports.audio_io import AudioSource

SR = 16000
SOURCE = np.array([12.0, 18.0])
RX = {
    "a.wav": (0.0, 0.0),
    "b.wav": (40.0, 0.0),
    "c.wav": (40.0, 40.0),
    "d.wav": (0.0, 40.0),
    "e.wav": (20.0, 5.0),
}


class MemoryMaps:
    def __init__(self) -> None:
        self.calls: list[tuple[Path, ReceiverArray, np.ndarray, np.ndarray, list[str]]] = []

    def plot_map(
        self,
        path: Path,
        *,
        receivers: ReceiverArray,
        positions: np.ndarray,
        covariances: np.ndarray,
        labels: Sequence[str] = (),
        confidence: float = 0.95,
        title: str = "",
    ) -> None:
        self.calls.append((path, receivers, positions, covariances, list(labels)))


def _call(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = np.fft.rfftfreq(n, 1 / SR)
    envelope = np.exp(-0.5 * ((np.arange(n) / SR - 0.45) / 0.05) ** 2)
    tone = np.fft.irfft(np.fft.rfft(rng.normal(size=n)) * ((f > 3000) & (f < 6000)), n)
    return np.asarray(tone * envelope)


def _scene(
    start_late: Mapping[str, float] | None = None,
    silent: Sequence[str] = (),
    root: Path = Path("/rec"),
) -> InMemoryAudioIO:
    """One call from SOURCE heard by every receiver, plus faint independent noise."""
    n = SR
    call = _call(2 * n)  # twice as long, so delays never wrap around
    f = np.fft.rfftfreq(2 * n, 1 / SR)
    c = calc_speed_of_sound(20)
    files: dict[Path, Audio] = {}
    for k, (name, xy) in enumerate(RX.items()):
        delay = float(np.linalg.norm(SOURCE - xy)) / c
        heard = np.fft.irfft(np.fft.rfft(call) * np.exp(-2j * np.pi * f * delay), 2 * n)[:n]
        if name in silent:
            heard = np.zeros(n)
        noise = 0.02 * np.random.default_rng(100 + k).normal(size=n)
        samples = heard + noise
        late = (start_late or {}).get(name, 0.0)
        files[root / name] = Audio(samples[round(late * SR) :], SR)
    return InMemoryAudioIO(files)


def _coords(**extra: list[float]) -> pd.DataFrame:
    df = pd.DataFrame(
        {"file": list(RX), "x": [p[0] for p in RX.values()], "y": [p[1] for p in RX.values()]}
    )
    for k, v in extra.items():
        df[k] = v
    return df


def _detections(
    files: Sequence[str] = tuple(RX), start: float = 0.3, end: float = 0.7
) -> pd.DataFrame:
    return pd.DataFrame({"file": list(files), "start_time": start, "end_time": end, "bird": 1})


def _started(
    io: InMemoryAudioIO, start: str = "2024-05-01T05:00:00+00:00"
) -> InMemoryMetadataReader:
    """Metadata saying every recording of ``io`` started at ``start``."""
    info = RecordingInfo(start=datetime.fromisoformat(start), sources={"start": "guano"})
    return InMemoryMetadataReader(dict.fromkeys(io.files, info))


def _usecase(
    io: InMemoryAudioIO, metadata: InMemoryMetadataReader | None = None
) -> tuple[LocalizeEvents, InMemoryTables, MemoryMaps]:
    tables, maps = InMemoryTables(), MemoryMaps()
    meta = _started(io) if metadata is None else metadata
    uc = LocalizeEvents(reader=io, metadata=meta, tables=tables, table_reader=tables, maps=maps)
    return uc, tables, maps


def test_every_detection_is_localized_near_the_true_source() -> None:
    uc, tables, maps = _usecase(_scene())
    report = uc.run(
        coordinates=_coords(),
        detections=_detections(),
        audio_dir=Path("/rec"),
        output=Path("/out/positions.csv"),
        plot=Path("/out/map.png"),
        bandpass={"bird": (3000, 6000)},
    )
    # five detections of one sound: five candidate estimates, one call, one trusted position
    assert sum(e.localized for e in report.events) == 5
    assert len(report.calls) == 1 and report.n_localized == report.n_trusted == 1
    assert {e.call for e in report.events} == {0} and report.calls[0].flag == ""
    for e in report.events:
        assert e.position is not None
        assert np.linalg.norm(e.position - SOURCE) < 0.5
        assert e.receivers[0] == e.reference and len(e.receivers) == 5
        assert e.tdoas[0] == 0.0 and all(0 < s <= 1.0 for s in e.cc_scores)
        assert 0 < e.uncertainty < 1.0
    c = calc_speed_of_sound(20)
    first = report.events[0]
    expected = [
        (np.linalg.norm(SOURCE - RX[n]) - np.linalg.norm(SOURCE - RX["a.wav"])) / c
        for n in first.receivers
    ]
    np.testing.assert_allclose(first.tdoas, expected, atol=2 / SR)
    columns, rows = tables.tables[Path("/out/positions.csv")]
    assert tuple(columns) == POSITION_COLUMNS
    assert len(rows) == 1 and rows[0]["reason"] == "" and rows[0]["n_receivers"] == 5
    assert rows[0]["call"] == 0 and rows[0]["flag"] == ""
    assert float(str(rows[0]["x"])) == pytest.approx(SOURCE[0], abs=0.5)
    assert "z" not in rows[0]  # 2-D coordinates leave z empty
    (path, receivers, positions, covs, labels) = maps.calls[0]
    assert path == Path("/out/map.png") and positions.shape == (1, 2) and covs.shape == (1, 2, 2)
    assert labels == ["bird"] and receivers.names == tuple(RX)


@pytest.mark.parametrize("algorithm", ["gps", "lstsq"])
@pytest.mark.parametrize("method", ["phat", "cc"])
def test_algorithms_and_correlation_methods_agree(algorithm: str, method: str) -> None:
    uc, _, _ = _usecase(_scene())
    report = uc.run(
        coordinates=_coords(),
        detections=_detections(),
        audio_dir=Path("/rec"),
        algorithm=algorithm,  # type: ignore[arg-type]
        cc_method=method,  # type: ignore[arg-type]
        bandpass={"bird": (3000, 6000)},
    )
    assert sum(e.localized for e in report.events) == 5 and report.n_trusted == 1
    assert all(
        np.linalg.norm(e.position - SOURCE) < 0.5 for e in report.events if e.position is not None
    )


def test_cc_threshold_above_every_score_localizes_nothing() -> None:
    uc, tables, _ = _usecase(_scene())
    report = uc.run(
        coordinates=_coords(),
        detections=_detections(),
        audio_dir=Path("/rec"),
        cc_threshold=100,
        output=Path("/o.csv"),
    )
    assert report.n_localized == 0
    assert all("above cc_threshold=100" in e.reason for e in report.events)
    assert all("cc score" in e.dropped[0] for e in report.events)
    _, rows = tables.tables[Path("/o.csv")]
    assert all(r.get("x") is None and r["reason"] for r in rows)


def test_a_silent_receiver_is_dropped_by_the_threshold() -> None:
    uc, _, _ = _usecase(_scene(silent=["e.wav"]))
    report = uc.run(
        coordinates=_coords(),
        detections=_detections(),
        audio_dir=Path("/rec"),
        cc_threshold=0.2,
        bandpass={"bird": (3000, 6000)},
    )
    ref_a = report.events[0]
    assert ref_a.localized and "e.wav" not in ref_a.receivers
    assert any(d.startswith("e.wav: cc score") for d in ref_a.dropped)
    assert ref_a.position is not None and np.linalg.norm(ref_a.position - SOURCE) < 0.5


def test_too_few_receivers_within_reach_is_a_reason() -> None:
    uc, _, _ = _usecase(_scene())
    report = uc.run(
        coordinates=_coords(),
        detections=_detections(),
        audio_dir=Path("/rec"),
        max_receiver_dist=25,
    )
    # From a.wav only e.wav (20.6 m) is within 25 m: 2 receivers < min_receivers=4.
    assert (
        report.events[0].reason == "2 receiver(s) detected it within reach (need min_receivers=4)"
    )
    assert report.n_localized == 0


def test_receivers_without_a_detection_are_not_used() -> None:
    uc, _, _ = _usecase(_scene())
    report = uc.run(
        coordinates=_coords(),
        detections=_detections(["a.wav", "b.wav", "c.wav", "d.wav"]),
        audio_dir=Path("/rec"),
    )
    assert sum(e.localized for e in report.events) == 4 and len(report.calls) == 1
    assert all("e.wav" not in e.receivers for e in report.events)


def test_start_offsets_align_recordings_that_started_late() -> None:
    io = _scene(start_late={"c.wav": 0.1})
    uc, _, _ = _usecase(io)
    det = _detections()
    det.loc[det.file == "c.wav", ["start_time", "end_time"]] = [0.2, 0.6]
    aligned = uc.run(
        coordinates=_coords(start_offset=[0, 0, 0.1, 0, 0]),
        detections=det,
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 6000)},
    )
    stamped = det.assign(
        start_timestamp=[
            "2024-05-01T05:00:00+00:00" if f != "c.wav" else "2024-05-01T05:00:00.100+00:00"
            for f in det.file
        ]
    )
    by_stamp = uc.run(
        coordinates=_coords(),
        detections=stamped,
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 6000)},
    )
    for report in (aligned, by_stamp):
        assert sum(e.localized for e in report.events) == 5 and report.n_trusted == 1
        for e in report.events:
            assert e.position is not None and np.linalg.norm(e.position - SOURCE) < 0.5
    np.testing.assert_allclose(aligned.events[0].tdoas, by_stamp.events[0].tdoas, atol=1e-9)
    # Without the offset c.wav's clock is 0.1 s off: the fit is poor and the residual says so.
    unaligned = uc.run(
        coordinates=_coords(),
        detections=det,
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 6000)},
    )
    assert aligned.events[0].residual_rms < 0.1 < 1.0 < unaligned.events[0].residual_rms


def test_naive_timestamps_are_rejected() -> None:
    uc, _, _ = _usecase(_scene())
    det = _detections().assign(start_timestamp="2024-05-01T05:00:00")
    with pytest.raises(LocalizationError, match="no time zone"):
        uc.run(coordinates=_coords(), detections=det, audio_dir=Path("/rec"))


def test_unreadable_audio_drops_the_receiver_not_the_run() -> None:
    io = _scene()
    io.files[Path("/rec/d.wav")] = Audio(np.zeros(100), SR)  # far too short
    uc, _, _ = _usecase(io)
    report = uc.run(
        coordinates=_coords(),
        detections=_detections(),
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 6000)},
    )
    assert report.events[3].reason == (
        "reference audio: /rec/d.wav: offset 0.3 s is past the end of the audio"
    )
    assert report.events[0].dropped == (
        "d.wav: /rec/d.wav: offset 0.18332984907560257 s is past the end of the audio",
    )
    assert report.events[0].localized and len(report.events[0].receivers) == 4


def test_missing_and_invalid_coordinates_are_reported() -> None:
    coords = _coords()
    coords.loc[coords.file == "e.wav", "y"] = np.nan
    uc, _, _ = _usecase(_scene())
    det = pd.concat([_detections(), _detections(["ghost.wav"])], ignore_index=True)
    report = uc.run(coordinates=coords, detections=det, audio_dir=Path("/rec"))
    assert report.problems == ["e.wav: coordinate(s) missing or not numbers: y=nan"]
    assert report.events[4].reason.startswith("reference receiver e.wav: coordinate(s) missing")
    assert report.events[5].reason == "reference receiver ghost.wav: not in the coordinates table"
    assert any(d.startswith("e.wav: coordinate(s)") for d in report.events[0].dropped)
    assert any(d == "ghost.wav: not in the coordinates table" for d in report.events[0].dropped)


def test_settings_are_validated() -> None:
    uc, _, _ = _usecase(_scene())
    with pytest.raises(ValueError, match="min_receivers must be at least 3"):
        uc.run(coordinates=_coords(), detections=_detections(), min_receivers=2)
    with pytest.raises(ValueError, match="max_receiver_dist"):
        uc.run(coordinates=_coords(), detections=_detections(), max_receiver_dist=0)


def test_long_format_class_column() -> None:
    det = _detections().drop(columns="bird").assign(**{"class": "frog"})
    found = read_detections(det)
    assert {d.class_name for d in found} == {"frog"} and len(found) == 5


def test_wide_format_reads_every_positive_class() -> None:
    det = pd.DataFrame(
        {"file": ["a.wav", "b.wav"], "start_time": 0, "end_time": 1, "x1": [1, 0], "x2": [1, 1]}
    )
    assert [(d.file, d.class_name) for d in read_detections(det)] == [
        ("a.wav", "x1"),
        ("a.wav", "x2"),
        ("b.wav", "x2"),
    ]


@pytest.mark.parametrize(
    ("table", "match"),
    [
        (pd.DataFrame({"file": ["a"], "start_time": [1.0]}), "end_time"),
        (
            pd.DataFrame({"file": ["a"], "start_time": [2.0], "end_time": [1.0], "k": 1}),
            "data row 1",
        ),
    ],
)
def test_bad_detection_tables_raise(table: pd.DataFrame, match: str) -> None:
    with pytest.raises(LocalizationError, match=match):
        read_detections(table)


def test_coordinates_use_the_first_column_when_none_is_named_file() -> None:
    df = pd.DataFrame({"Unnamed: 0": ["p.wav", "q.wav", "r.wav"], "x": [0, 1, 0], "y": [0, 0, 1]})
    table = read_coordinates(df)
    assert table.array.names == ("p.wav", "q.wav", "r.wav") and table.array.dim == 2
    with pytest.raises(LocalizationError, match="more than once"):
        read_coordinates(pd.DataFrame({"file": ["p", "p"], "x": [0, 1], "y": [0, 0]}))
    with pytest.raises(LocalizationError, match="x and y"):
        read_coordinates(pd.DataFrame({"file": ["p"], "x": [0]}))


def test_cli_localize_with_fakes(tmp_path: Path) -> None:
    coords = tmp_path / "coords.csv"
    detections = tmp_path / "det.csv"
    _coords().to_csv(coords, index=False)
    _detections().to_csv(detections, index=False)
    container = Container()
    tables, maps = InMemoryTables(), MemoryMaps()
    container.audio_io.override(_scene(root=tmp_path))
    container.tables.override(tables)
    container.map_plotter.override(maps)
    result = CliRunner().invoke(
        main,
        [
            "localize",
            "--coords",
            str(coords),
            "--detections",
            str(detections),
            "--audio-dir",
            str(tmp_path),
            "-o",
            str(tmp_path / "out.csv"),
            "--bandpass",
            "bird:3000:6000",
            "--algorithm",
            "lstsq",
            "--plot",
            str(tmp_path / "map.png"),
        ],
        obj=container,
    )
    assert result.exit_code == 0, result.output
    assert "5 detection(s) are 1 call(s): 1 localized, 0 flagged" in result.output
    assert len(tables.tables[tmp_path / "out.csv"][1]) == 1 and len(maps.calls) == 1


def test_cli_rejects_a_malformed_band(tmp_path: Path) -> None:
    coords = tmp_path / "coords.csv"
    _coords().to_csv(coords, index=False)
    result = CliRunner().invoke(
        main,
        [
            *("localize", "--coords", str(coords), "--detections", str(coords), "-o", "x.csv"),
            *("--bandpass", "bird:6000"),
        ],
    )
    assert result.exit_code == 2 and "CLASS:LOW:HIGH" in result.output


def test_uncertainty_is_nan_for_events_that_were_not_localized() -> None:
    uc, _, _ = _usecase(_scene())
    report = uc.run(
        coordinates=_coords(), detections=_detections(), audio_dir=Path("/rec"), cc_threshold=5
    )
    assert all(math.isnan(e.uncertainty) and not e.localized for e in report.events)


class CountingAudioIO(InMemoryAudioIO):
    """The in-memory store, counting the reads of each recording and noting their lengths."""

    def __init__(self, files: dict[Path, Audio]) -> None:
        super().__init__(files)
        self.reads: dict[AudioSource, int] = {}
        self.durations: list[float] = []

    def read(
        self,
        source: AudioSource,
        *,
        sample_rate: int | None = None,
        resample_type: str = "kaiser_fast",
        max_duration: float | None = None,
        offset: float = 0.0,
        duration: float | None = None,
    ) -> Audio:
        self.reads[source] = self.reads.get(source, 0) + 1
        self.durations.append(math.inf if duration is None else duration)
        return super().read(
            source,
            sample_rate=sample_rate,
            resample_type=resample_type,
            max_duration=max_duration,
            offset=offset,
            duration=duration,
        )


def test_each_recording_is_read_once_per_run() -> None:
    io = CountingAudioIO(_scene().files)
    uc, _, _ = _usecase(io)
    # two windows (a call, then noise): ten events, each correlating five recordings
    det = pd.concat([_detections(), _detections(start=0.6, end=0.95)], ignore_index=True)
    report = uc.run(
        coordinates=_coords(),
        detections=det,
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 6000)},
    )
    assert len(report.events) == 10 and len(report.calls) == 2
    assert io.reads == {Path("/rec") / name: 1 for name in RX}  # was 5 (or 10) reads per file


@pytest.mark.parametrize("start", [0.3, 0.30003, 0.29998])
def test_delays_are_measured_between_the_samples_read(start: float) -> None:
    # A window starting between two samples is read from the nearest sample; the delay must
    # be measured from the samples' own times (it was up to 0.8 samples off).
    uc, _, _ = _usecase(_scene())
    report = uc.run(
        coordinates=_coords(),
        detections=_detections(start=start, end=start + 0.4),
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 6000)},
    )
    c = calc_speed_of_sound(20)
    for e in report.events:
        here = np.linalg.norm(SOURCE - RX[e.reference])
        truth = [(np.linalg.norm(SOURCE - RX[n]) - here) / c for n in e.receivers]
        np.testing.assert_allclose(e.tdoas, truth, atol=0.15 / SR)


@pytest.mark.parametrize("algorithm", ["gps", "lstsq", "gillette"])
def test_speed_of_sound_overrides_the_temperature(algorithm: str) -> None:
    uc, _, _ = _usecase(_scene())
    kw = {
        "coordinates": _coords(),
        "detections": _detections(),
        "audio_dir": Path("/rec"),
        "bandpass": {"bird": (3000, 6000)},
        "algorithm": algorithm,
    }
    at_20 = uc.run(**kw)  # type: ignore[arg-type]
    given = uc.run(**kw, temperature=-10, speed_of_sound=calc_speed_of_sound(20))  # type: ignore[arg-type]
    cold = uc.run(**kw, temperature=-10)  # type: ignore[arg-type]
    assert given.calls[0].position is not None and at_20.calls[0].position is not None
    np.testing.assert_allclose(given.calls[0].position, at_20.calls[0].position, atol=1e-9)
    assert np.linalg.norm(at_20.calls[0].position - SOURCE) < 0.5
    assert cold.calls[0].position is not None
    assert np.linalg.norm(cold.calls[0].position - SOURCE) > np.linalg.norm(
        at_20.calls[0].position - SOURCE
    )
    with pytest.raises(ValueError, match="speed_of_sound must be a finite number > 0"):
        uc.run(**kw, speed_of_sound=0)  # type: ignore[arg-type]


def test_recordings_at_other_rates_are_read_at_the_highest() -> None:
    io = _scene()
    slow = io.files[Path("/rec/b.wav")]
    g = math.gcd(SR, 12000)
    resampled = signal.resample_poly(slow.samples, 12000 // g, SR // g)
    io.files[Path("/rec/b.wav")] = Audio(np.asarray(resampled, dtype=np.float32), 12000)
    uc, _, _ = _usecase(io)
    report = uc.run(
        coordinates=_coords(),
        detections=_detections(),
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 5500)},
    )
    assert sum(e.localized for e in report.events) == 5
    for e in report.events:
        assert e.position is not None and np.linalg.norm(e.position - SOURCE) < 0.5


def test_cli_takes_the_speed_of_sound_and_gillette(tmp_path: Path) -> None:
    coords, detections = tmp_path / "coords.csv", tmp_path / "det.csv"
    _coords().to_csv(coords, index=False)
    _detections().to_csv(detections, index=False)
    container = Container()
    container.audio_io.override(_scene(root=tmp_path))
    args = [
        *("localize", "--coords", str(coords), "--detections", str(detections)),
        *("--audio-dir", str(tmp_path), "-o", str(tmp_path / "out.csv")),
        *("--bandpass", "bird:3000:6000", "--algorithm", "gillette"),
    ]
    result = CliRunner().invoke(main, [*args, "--speed-of-sound", "343.2"], obj=container)
    assert result.exit_code == 0, result.output
    assert "5 detection(s) are 1 call(s): 1 localized, 0 flagged" in result.output
    table = pd.read_csv(tmp_path / "out.csv")
    assert abs(table.loc[0, "x"] - SOURCE[0]) < 0.5 and abs(table.loc[0, "y"] - SOURCE[1]) < 0.5
    bad = CliRunner().invoke(main, [*args, "--speed-of-sound", "-3"], obj=container)
    assert bad.exit_code == 2 and "speed_of_sound must be a finite number > 0" in bad.output


def test_long_recordings_are_read_in_bounded_stretches() -> None:
    # Detections every 0.9 s over 130 s: one stretch per file would be the whole recording.
    rate, seconds = 2000, 130
    rng = np.random.default_rng(3)
    names = ["a.wav", "b.wav", "d.wav"]
    io = CountingAudioIO(
        {Path("/rec") / n: Audio(0.1 * rng.normal(size=rate * seconds), rate) for n in names}
    )
    uc, _, _ = _usecase(io)
    starts = np.arange(0.0, seconds - 1, 0.9)
    det = pd.DataFrame(
        [
            {"file": n, "start_time": s, "end_time": s + 0.4, "bird": 1}
            for n in names
            for s in starts
        ]
    )
    report = uc.run(coordinates=_coords(), detections=det, audio_dir=Path("/rec"), min_receivers=3)
    assert len(report.events) == 3 * len(starts)
    assert max(io.durations) <= 60.0 + 1.0  # a stretch and its margins
    assert io.reads == {Path("/rec") / n: 3 for n in names}  # 130 s in three stretches, once each


def _late_c() -> tuple[InMemoryAudioIO, pd.DataFrame]:
    """c.wav started 0.1 s late, so its detection window is 0.1 s earlier in its own file."""
    io = _scene(start_late={"c.wav": 0.1})
    det = _detections()
    det.loc[det.file == "c.wav", ["start_time", "end_time"]] = [0.2, 0.6]
    return io, det


def test_start_times_from_metadata_align_a_late_recorder() -> None:
    io, det = _late_c()
    meta = _started(io)
    meta.infos[Path("/rec/c.wav")] = RecordingInfo(
        start=datetime.fromisoformat("2024-05-01T07:00:00.1+02:00"),  # 05:00:00.1 UTC
        sources={"start": "audiomoth-comment"},
    )
    uc, _, _ = _usecase(io, meta)
    report = uc.run(
        coordinates=_coords(),
        detections=det,
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 6000)},
    )
    given, _, _ = _usecase(io)
    by_offset = given.run(
        coordinates=_coords(start_offset=[0, 0, 0.1, 0, 0]),
        detections=det,
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 6000)},
    )
    assert report.clocks == (
        "recordings' start times (audiomoth-comment: 1, guano: 4); "
        "2 time zones (+00:00, +02:00) compared in UTC"
    )
    assert sum(e.localized for e in report.events) == 5 and report.n_trusted == 1
    np.testing.assert_allclose(report.events[0].tdoas, by_offset.events[0].tdoas, atol=1e-9)
    # absolute times are written in UTC when the recorders' zones differ
    assert report.events[2].start_timestamp == datetime.fromisoformat("2024-05-01T05:00:00.3+00:00")
    assert report.events[0].row()["start_timestamp"] == "2024-05-01T05:00:00.300000+00:00"
    assert by_offset.events[0].row()["start_timestamp"] == ""


def test_a_recorder_without_a_start_time_is_an_error_naming_it() -> None:
    io = _scene()
    meta = _started(io)
    del meta.infos[Path("/rec/d.wav")]
    uc, tables, _ = _usecase(io, meta)
    with pytest.raises(
        LocalizationError, match=r"start time unknown for 1 of 5 recorders: d\.wav "
    ):
        uc.run(
            coordinates=_coords(),
            detections=_detections(),
            audio_dir=Path("/rec"),
            output=Path("o.csv"),
        )
    assert tables.tables == {}
    # unless the user says all recordings started together
    report = uc.run(
        coordinates=_coords(), detections=_detections(), audio_dir=Path("/rec"), assume_aligned=True
    )
    assert report.clocks == "assumed aligned (all start together)"
    assert report.n_trusted == 1 and report.events[0].start_timestamp is None


def test_file_name_timestamps_give_start_times_in_the_zone_asked() -> None:
    names = {n: n.replace(".wav", "_20240501_070000.wav") for n in RX}
    io = _scene()
    io.files = {Path("/rec") / names[p.name]: a for p, a in io.files.items()}
    coords = _coords().assign(file=lambda df: df.file.map(names))
    det = _detections().assign(file=lambda df: df.file.map(names))
    uc, _, _ = _usecase(io, InMemoryMetadataReader())  # no embedded metadata: names only
    report = uc.run(
        coordinates=coords,
        detections=det,
        audio_dir=Path("/rec"),
        timezone=ZoneInfo("Europe/Berlin"),
    )
    assert report.clocks == "recordings' start times (file-name: 5)"
    assert report.n_trusted == 1
    assert report.events[0].row()["start_timestamp"] == "2024-05-01T07:00:00.300000+02:00"


def test_table_clocks_win_over_metadata() -> None:
    io, det = _late_c()
    uc, _, _ = _usecase(io)  # metadata (wrongly) says all started together
    report = uc.run(
        coordinates=_coords(start_offset=[0, 0, 0.1, 0, 0]),
        detections=det,
        audio_dir=Path("/rec"),
        bandpass={"bird": (3000, 6000)},
    )
    assert report.clocks == "start_offset column of table"
    assert report.n_trusted == 1 and report.events[0].residual_rms < 0.1
