"""The Raven adapter on every real table of tests/data and on generated bad tables."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from opso.adapters.raven_files import RavenAnnotationStore
from opso.domain.annotations import AnnotationSet
from opso.domain.errors import AnnotationFormatError

CROWSETTA_COUNTS = {
    "EATO": 1809, "BTNW": 886, "WOTH": 832, "TUTI": 740, "BCCH": 410, "OVEN": 319,
    "AMCR": 249, "NOCA": 195, "HETH": 162, "BHVI": 126, "BHCO": 107, "BAWW": 83,
    "RBWO": 67, "AMGO": 44, "RCKI": 35, "NOFL": 15, "LOWA": 13, "WITU": 9, "BLJA": 9,
    "WBNU": 7, "HAWO": 2, "RWBL": 2, "CANG": 2, "CORA": 1, "RSHA": 1,
}  # fmt: skip

HEADER = (
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies"
)


@pytest.fixture
def store() -> RavenAnnotationStore:
    return RavenAnnotationStore()


@pytest.fixture
def raven_dir(test_data: Path) -> Path:
    return test_data / "opensoundscape" / "raven"


@pytest.fixture
def chronister(test_data: Path) -> Path:
    return test_data / "crowsetta" / "raven" / "chronister2021_Recording_1"


def test_all_36_chronister_tables(store: RavenAnnotationStore, chronister: Path) -> None:
    tables = store.find(chronister)
    assert len(tables) == 36
    sets = {t.name: store.read(t) for t in tables}
    everything = AnnotationSet.concat(sets.values())
    assert len(everything) == 6125
    assert everything.n_unlabelled == 0
    assert everything.label_counts() == CROWSETTA_COUNTS
    assert len(everything.classes) == 25
    assert len(sets["Recording_1_Segment_01.Table.1.selections.txt"]) == 0
    assert len(sets["Recording_1_Segment_02.Table.1.selections.txt"]) == 6
    assert len(sets["Recording_1_Segment_07.Table.1.selections.txt"]) == 279
    assert len(sets["Recording_1_Segment_36.Table.1.selections.txt"]) == 112
    assert everything.begin_time.min() >= 0 and everything.end_time.max() <= 300.5
    assert not np.isnan(everything.low_f).any() and not np.isnan(everything.high_f).any()
    assert len(everything.source_names) == 35  # Segment_01 has no boxes


def test_segment_07_boxes_in_first_ten_seconds(
    store: RavenAnnotationStore, chronister: Path
) -> None:
    s = store.read(chronister / "Recording_1_Segment_07.Table.1.selections.txt")
    inside = s.select((s.begin_time >= 0) & (s.end_time <= 10))
    assert Counter(inside.labels) == {"NOCA": 2, "WOTH": 3, "EATO": 2, "BCCH": 2}
    first = next(iter(inside))
    assert (first.begin_time, first.end_time, first.low_f, first.high_f, first.label) == (
        0.17809591100000002,
        3.390418452,
        1340.5,
        2899.9,
        "NOCA",
    )


def test_every_opensoundscape_table(store: RavenAnnotationStore, raven_dir: Path) -> None:
    found = {p.name: store.read(p) for p in sorted(raven_dir.rglob("*.txt"))}
    expected = {
        "EmptyExample.Table.1.selections.txt": (0, {}, 0, "Species"),
        "MSD-0003_20180427_2minstart00.Table.1.selections.txt": (
            10, {"WOTH": 4, "EATO": 4, "LOWA": 1}, 1, "Species"),
        "raven_with_Annotation_col.txt": (1, {"CSWA": 1}, 0, "Annotation"),
        "EmptyExample.Table.1.selections__v0.5.0.txt": (0, {}, 0, "class"),
        "EmptyExample.Table.1.selections__v0.10.2.txt": (0, {}, 0, "Species"),
        "LongExample.Table.1.selections__v0.5.0.txt": (13, {"woth": 8, "eato": 5}, 0, "class"),
        "MSD-0003_20180427_2minstart00.Table.1.selections__v0.10.2.txt": (
            10, {"WOTH": 4, "EATO": 4, "LOWA": 1}, 1, "Species"),
        "MSD-0003_20180427_5minstart00-15.Table.1.selections__v0.5.0.txt": (
            141, {"EATO": 70, "WOTH": 69, "LOWA": 2}, 0, "Species"),
        "raven_okay_Example.Table.1.selections__v0.4.5.txt": (1, {"hello": 1}, 0, "class"),
        "raven_warn_Example.Table.1.selections__v0.4.5.txt": (1, {}, 1, "class"),
    }  # fmt: skip
    assert set(found) == set(expected)
    for name, (n, counts, unlabelled, label_name) in expected.items():
        s = found[name]
        assert (len(s), s.label_counts(), s.n_unlabelled, s.label_name) == (
            n,
            counts,
            unlabelled,
            label_name,
        ), name


def test_ragged_table_parses_like_its_regular_twin(
    store: RavenAnnotationStore, raven_dir: Path
) -> None:
    ragged = store.read(raven_dir / "MSD-0003_20180427_2minstart00.Table.1.selections.txt")
    regular = store.read(
        raven_dir / "legacy" / "MSD-0003_20180427_2minstart00.Table.1.selections__v0.10.2.txt"
    )
    assert ragged.begin_time.tolist() == regular.begin_time.tolist()
    assert ragged.end_time.tolist() == regular.end_time.tolist()
    assert ragged.labels == regular.labels
    assert ragged.labels[-1] is None and ragged.end_time[-1] == pytest.approx(16.07000674400001)
    assert ragged.extra["distance"].tolist() == [""] * 10  # header-only columns kept, empty


def test_lower_case_crlf_table(store: RavenAnnotationStore, raven_dir: Path) -> None:
    path = raven_dir / "legacy" / "LongExample.Table.1.selections__v0.5.0.txt"
    assert b"\r\n" in path.read_bytes()
    s = store.read(path)
    assert s.begin_time[:2].tolist() == [0.0, 2.9317416489999997]
    assert s.high_f[0] == 5760.8
    assert s.extra == {}


def test_extra_columns_and_label_column_choice(
    store: RavenAnnotationStore, raven_dir: Path
) -> None:
    path = raven_dir / "legacy" / "raven_okay_Example.Table.1.selections__v0.4.5.txt"
    s = store.read(path)
    assert {k: v.tolist() for k, v in s.extra.items()} == {
        "number": ["5"],
        "distance": ["mid"],
        "type": ["chorus pup"],
    }
    assert store.read(path, label_column="type").labels == ["chorus pup"]
    msd = raven_dir / "MSD-0003_20180427_2minstart00.Table.1.selections.txt"
    assert set(store.read(msd, label_column="view").labels) == {"Spectrogram 1"}


def test_every_table_round_trips(
    store: RavenAnnotationStore, raven_dir: Path, chronister: Path, tmp_path: Path
) -> None:
    for i, path in enumerate([*sorted(raven_dir.rglob("*.txt")), *store.find(chronister)]):
        first = store.read(path)
        out = tmp_path / f"{i}.selections.txt"
        store.write(first, out)
        again = store.read(out)
        assert again.begin_time.tolist() == first.begin_time.tolist(), path
        assert again.end_time.tolist() == first.end_time.tolist(), path
        np.testing.assert_array_equal(again.low_f, first.low_f)
        np.testing.assert_array_equal(again.high_f, first.high_f)
        assert again.labels == first.labels, path
        assert again.label_name == first.label_name
        assert {k: v.tolist() for k, v in again.extra.items()} == {
            k: v.tolist() for k, v in first.extra.items()
        }


def test_written_table_is_in_raven_layout(store: RavenAnnotationStore, tmp_path: Path) -> None:
    s = AnnotationSet.from_columns(
        source="r.wav",
        begin_time=[1.5, 0.25],
        end_time=[2.0, 1.0],
        label=["WOTH", None],
        low_f=[100.0, 2000.0],
        high_f=[900.0, 4000.0],
        label_name="Species",
    )
    out = tmp_path / "r.Table.1.selections.txt"
    store.write(s, out)
    assert out.read_text(encoding="utf-8").split("\n") == [
        HEADER,
        "1\tSpectrogram 1\t1\t1.5\t2.0\t100.0\t900.0\tWOTH",
        "2\tSpectrogram 1\t1\t0.25\t1.0\t2000.0\t4000.0\t",
        "",
    ]
    no_band = AnnotationSet.from_columns(source="r", begin_time=[0], end_time=[1], label=["x"])
    store.write(no_band, out)
    assert out.read_text(encoding="utf-8").splitlines()[0] == (
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tAnnotation"
    )
    assert np.isnan(store.read(out).low_f[0])
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    bad = AnnotationSet.from_columns(source="r", begin_time=[0], end_time=[1], label=["a\tb"])
    with pytest.raises(AnnotationFormatError, match="tab or line break"):
        store.write(bad, tmp_path / "bad.selections.txt")


def _write(tmp_path: Path, body: str, *, name: str = "t.selections.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode("utf-8"))
    return path


BEGIN_COL = r"column 'Begin Time \(s\)'"
END_COL = r"column 'End Time \(s\)'"


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("abc\t2.0\t1\t2", rf"line 4 \(row 2\), {BEGIN_COL}: not a number: 'abc'"),
        ("3.0\t2.0\t1\t2", rf"line 4 \(row 2\), {END_COL}: end time 2.0 is before begin time 3.0"),
        ("-1\t2.0\t1\t2", rf"{BEGIN_COL}: must be a non-negative number: '-1'"),
        ("\t2.0\t1\t2", rf"{BEGIN_COL}: missing value"),
        ("1\tinf\t1\t2", rf"{END_COL}: must be a non-negative number: 'inf'"),
        ("1\t2.0\tlow\t2", r"column 'Low Freq \(Hz\)': not a number: 'low'"),
        ("1\t2.0\t500\t200", r"'High Freq \(Hz\)': high frequency 200.0 is below low .* 500.0"),
    ],
)
def test_bad_values_name_file_row_and_column(tmp_path: Path, cells: str, message: str) -> None:
    row = f"1\tSpectrogram 1\t1\t{cells}\tX"
    path = _write(tmp_path, f"{HEADER}\n1\tSpectrogram 1\t1\t0\t1\t1\t2\tOK\n\n{row}\n")
    with pytest.raises(AnnotationFormatError, match=message) as info:
        RavenAnnotationStore().read(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_columns_are_listed(tmp_path: Path) -> None:
    no_time = _write(tmp_path, "Selection\tBegin Time (s)\tSpecies\n1\t0.5\tX\n")
    with pytest.raises(
        AnnotationFormatError,
        match=rf"line 1: missing {END_COL}; columns found: \['Selection', .*, 'Species'\]",
    ):
        RavenAnnotationStore().read(no_time)
    no_label = _write(tmp_path, "Begin Time (s)\tEnd Time (s)\tNotes\n0\t1\thi\n", name="n.txt")
    with pytest.raises(
        AnnotationFormatError,
        match=r"no label column .*columns found: \['Begin Time \(s\)', 'End Time \(s\)', 'Notes'\]",
    ):
        RavenAnnotationStore().read(no_label)
    assert RavenAnnotationStore().read(no_label, label_column="notes").labels == ["hi"]
    with pytest.raises(AnnotationFormatError, match="label column 'call' not found"):
        RavenAnnotationStore().read(no_label, label_column="call")


def test_tolerated_quirks(tmp_path: Path) -> None:
    store = RavenAnnotationStore()
    bom_cp = "\ufeffbegin time (s)\tEND TIME (S)\tclass\r\n0.5\t1\tgrive\u0301\r\n"
    path = tmp_path / "cp.txt"
    path.write_bytes(bom_cp.encode("utf-8"))
    assert store.read(path).labels == ["grive\u0301"]
    path.write_bytes(
        "Begin Time (s)\tEnd Time (s)\tclass\n0.5\t1\tgrive caf\xe9\n".encode("cp1252")
    )
    assert store.read(path).labels == ["grive caf\xe9"]
    path.write_bytes(b"")
    assert len(store.read(path)) == 0
    # surplus values in a row are kept as a named column; old Mac CR line ends work
    path.write_bytes(b"Begin Time (s)\tEnd Time (s)\tclass\r0\t1\ta\textra\t\r2\t3\tb\r")
    s = store.read(path)
    assert s.labels == ["a", "b"] and s.extra["column_4"].tolist() == ["extra", ""]


def test_waveform_duplicates_are_dropped(tmp_path: Path) -> None:
    body = (
        f"{HEADER}\n"
        "1\tWaveform 1\t1\t0.5\t1.0\t100\t200\tX\n"
        "1\tSpectrogram 1\t1\t0.5\t1.0\t100\t200\tX\n"
        "2\tWaveform 1\t1\t2.0\t3.0\t100\t200\tY\n"
    )
    s = RavenAnnotationStore().read(_write(tmp_path, body))
    assert s.labels == ["X", "Y"]  # selection 2 only has a waveform row: kept


def test_waveform_rows_that_differ_from_the_other_views_are_kept(tmp_path: Path) -> None:
    body = (
        f"{HEADER}\n"
        "1\tSpectrogram 1\t1\t0.5\t1.0\t100\t200\tX\n"
        "1\tWaveform 1\t1\t4.0\t5.0\t100\t200\tX\n"  # other times
        "2\tSpectrogram 1\t1\t2.0\t3.0\t100\t200\tY\n"
        "2\tWaveform 1\t1\t2.0\t3.0\t100\t200\tZ\n"  # other label
        "3\tSpectrogram 1\t1\t6.0\t7.0\t100\t200\tW\n"
        "3\tWaveform 1\t1\t6.0\t7.0\t300\t400\tW\n"  # other band
        "4\tSpectrogram 1\t1\t8.0\t9.0\t\t\tV\n"
        "4\tWaveform 1\t1\t8.0\t9.0\t\t\tV\n"  # a true repeat, no band either
        "5\tSpectrogram 1\t1\t9.0\t9.5\t100\t200\tU\n"
        "5\tWaveform 1\t2\t9.0\t9.5\t100\t200\tU\n"  # another channel
    )
    s = RavenAnnotationStore().read(_write(tmp_path, body))
    low = [None if np.isnan(f) else f for f in s.low_f.tolist()]
    assert list(zip(s.labels, s.begin_time.tolist(), low, strict=True)) == [
        ("X", 0.5, 100),
        ("X", 4.0, 100),
        ("Y", 2.0, 100),
        ("Z", 2.0, 100),
        ("W", 6.0, 100),
        ("W", 6.0, 300),
        ("V", 8.0, None),
        ("U", 9.0, 100),
        ("U", 9.0, 100),
    ]


def test_folder_and_missing_paths(tmp_path: Path) -> None:
    store = RavenAnnotationStore()
    with pytest.raises(FileNotFoundError):
        store.find(tmp_path / "absent")
    with pytest.raises(AnnotationFormatError, match="is a folder"):
        store.read(tmp_path)


def test_lowercase_copy_is_the_text_in_lower_case(tmp_path: Path) -> None:
    store = RavenAnnotationStore()
    # CRLF, a BOM, a bad time and a cp1252 label: copied byte for byte but for letter case
    bom = f"\ufeff{HEADER}\r\n1\tSpectrogram 1\t1\tabc\t2\t100\t200\tWOTH\r\n"
    source = _write(tmp_path, bom, name="bom.selections.txt")
    store.write_lowercase(source, tmp_path / "bom.lower")
    assert (tmp_path / "bom.lower").read_bytes() == bom.lower().encode("utf-8")
    with pytest.raises(AnnotationFormatError, match="not a number: 'abc'"):
        store.read(tmp_path / "bom.lower")  # the bad time is still there, now lower case
    cp = "Begin Time (s)\tEnd Time (s)\tClass\n0.5\t1\tGRIVE CAF\xc9\n"
    source.write_bytes(cp.encode("cp1252"))
    store.write_lowercase(source, tmp_path / "cp.lower")
    assert (tmp_path / "cp.lower").read_bytes() == cp.lower().encode("cp1252")
    assert store.read(tmp_path / "cp.lower").labels == ["grive caf\xe9"]
    with pytest.raises(FileNotFoundError, match=r"absent\.selections\.txt"):
        store.write_lowercase(tmp_path / "absent.selections.txt", tmp_path / "x.lower")
    with pytest.raises(AnnotationFormatError, match="is a folder"):
        store.write_lowercase(tmp_path, tmp_path / "y.lower")
    assert not (tmp_path / "x.lower").exists() and not (tmp_path / "y.lower").exists()
