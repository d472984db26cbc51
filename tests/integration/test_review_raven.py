"""`opso review --raven`: one Raven table per recording, which `opso label` pairs back."""

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from click.testing import CliRunner

from opso.adapters.raven_files import RavenAnnotationStore
from opso.cli import main
from opso.container import Container


def recording(path: Path, sample_rate: int, seconds: float = 10.0) -> Path:
    rng = np.random.default_rng(len(path.name))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, rng.normal(size=int(sample_rate * seconds)) * 0.1, sample_rate)
    return path


def test_present_marks_of_two_recordings_become_two_tables_that_opso_label_pairs(
    tmp_path: Path,
) -> None:
    recordings = tmp_path / "recordings"
    north = recording(recordings / "north.wav", 22050)
    south = recording(recordings / "south.wav", 32000)
    scores = pd.DataFrame(
        {
            "file": ["north.wav", "north.wav", "south.wav", "south.wav"],
            "start_time": [0.0, 5.0, 0.0, 5.0],
            "end_time": [5.0, 10.0, 5.0, 10.0],
            "owl": [0.2, 0.9, 0.1, 0.8],
            "frog": [0.3, 0.1, 0.95, 0.4],
        }
    )
    out = tmp_path / "review"
    c = Container()
    clips = c.build_review().run(scores=scores, audio_root=recordings, output=out, top_k=2).clips
    by_place = {(clip.file, clip.start_time, clip.label): clip.id for clip in clips}
    marks = {
        by_place["north.wav", 5.0, "owl"]: "present",
        by_place["south.wav", 5.0, "owl"]: "absent",
        by_place["south.wav", 0.0, "frog"]: "present",
        by_place["south.wav", 5.0, "frog"]: "unsure",
    }
    written = c.save_review_marks().run(clips=clips, marks=marks, output=out, raven=True)

    north_table = out / "raven" / "north.Table.1.selections.txt"
    south_table = out / "raven" / "south.Table.1.selections.txt"
    assert written == [out / "review.csv", north_table, south_table]
    header = north_table.read_text().splitlines()[0].split("\t")
    assert header == [
        "Selection",
        "View",
        "Channel",
        "Begin Time (s)",
        "End Time (s)",
        "Low Freq (Hz)",
        "High Freq (Hz)",
        "Species",
        "Begin File",
        "Begin Path",
    ]
    for table, audio, band, (begin, label) in [
        (north_table, north, 11025.0, (5.0, "owl")),
        (south_table, south, 16000.0, (0.0, "frog")),
    ]:
        boxes = RavenAnnotationStore().read(table)
        assert boxes.labels == [label] and list(boxes.begin_time) == [begin]
        assert list(boxes.low_f) == [0.0] and list(boxes.high_f) == [band]
        assert list(boxes.extra["Begin File"]) == [audio.name]
        assert list(boxes.extra["Begin Path"]) == [str(audio)]

    report = c.label_recordings().run(
        annotation_dir=out / "raven", audio=[recordings], clip_duration=5.0
    )
    assert [(p.audio, p.table) for p in report.pairs] == [
        (north, north_table),
        (south, south_table),
    ]
    labelled = {
        (r.source.name, r.begin_time): dict(zip(report.labels.classes, row.tolist(), strict=True))
        for r, row in zip(report.clips, report.labels.matrix, strict=True)
    }
    assert labelled == {
        ("north.wav", 0.0): {"frog": 0, "owl": 0},
        ("north.wav", 5.0): {"frog": 0, "owl": 1},
        ("south.wav", 0.0): {"frog": 1, "owl": 0},
        ("south.wav", 5.0): {"frog": 0, "owl": 0},
    }


def test_recordings_sharing_a_table_name_are_refused_before_serving(tmp_path: Path) -> None:
    recording(tmp_path / "site1" / "dawn.wav", 22050, seconds=5)
    recording(tmp_path / "site2" / "dawn.wav", 22050, seconds=5)
    scores = tmp_path / "scores.csv"
    scores.write_text(
        "file,start_time,end_time,owl\nsite1/dawn.wav,0,5,0.9\nsite2/dawn.wav,0,5,0.8\n"
    )
    out = tmp_path / "review"
    args = ["review", str(scores), "--audio-root", str(tmp_path), "-o", str(out), "--serve"]
    result = CliRunner().invoke(main, [*args, "--raven"])
    assert result.exit_code == 2, result.output
    assert "site1/dawn.wav and " in result.output and "site2/dawn.wav share the name 'dawn'" in (
        result.output
    )
    assert "serving on" not in result.output
    assert not (out / "review.csv").exists() and not (out / "raven").exists()


def test_raven_without_serve_is_a_usage_error_not_a_silent_no_op(tmp_path: Path) -> None:
    recording(tmp_path / "dawn.wav", 22050, seconds=5)
    scores = tmp_path / "scores.csv"
    scores.write_text("file,start_time,end_time,owl\ndawn.wav,0,5,0.9\n")
    out = tmp_path / "review"
    args = ["review", str(scores), "--audio-root", str(tmp_path), "-o", str(out), "--raven"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "--raven needs --serve" in result.output
    assert not out.exists()
