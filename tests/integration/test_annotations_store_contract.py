"""The same assertions over the Raven adapter and the in-memory adapter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from opso.adapters.memory import InMemoryAnnotationStore
from opso.adapters.raven_files import RavenAnnotationStore
from opso.domain.annotations import AnnotationSet
from opso.domain.errors import AnnotationFormatError
from opso.ports.annotation_store import AnnotationStore

Factory = Callable[[], AnnotationStore]
STORES: dict[str, Factory] = {"raven": RavenAnnotationStore, "memory": InMemoryAnnotationStore}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> AnnotationStore:
    return STORES[request.param]()


def _boxes() -> AnnotationSet:
    return AnnotationSet.from_columns(
        source="rec1.wav",
        begin_time=[0.17809591100000002, 3.0, 5.5],
        end_time=[3.390418452, 4.25, 9.0],
        label=["NOCA", None, "WOTH"],
        low_f=[1340.5, 200.0, 0.0],
        high_f=[2899.9, 900.0, 11025.0],
        extra={"type": ["song", "call", ""], "distance": ["near", "", "far"]},
        label_name="Species",
    )


def _same(a: AnnotationSet, b: AnnotationSet) -> None:
    assert a.begin_time.tolist() == b.begin_time.tolist()
    assert a.end_time.tolist() == b.end_time.tolist()
    np.testing.assert_array_equal(a.low_f, b.low_f)
    np.testing.assert_array_equal(a.high_f, b.high_f)
    assert a.labels == b.labels
    assert {k: v.tolist() for k, v in a.extra.items()} == {
        k: v.tolist() for k, v in b.extra.items()
    }


def test_write_then_read_gives_the_same_boxes(store: AnnotationStore, tmp_path: Path) -> None:
    path = tmp_path / "rec1.Table.1.selections.txt"
    store.write(_boxes(), path)
    back = store.read(path)
    _same(back, _boxes())
    assert back.label_name == "Species"
    assert back.source_names == (str(path),)
    assert store.read(path, source="rec1.wav").source_names == ("rec1.wav",)


def test_label_column_by_name(store: AnnotationStore, tmp_path: Path) -> None:
    path = tmp_path / "rec1.Table.1.selections.txt"
    store.write(_boxes(), path)
    by_type = store.read(path, label_column="TYPE")
    assert by_type.labels == ["song", "call", None]
    assert by_type.label_name == "type"
    assert by_type.extra["Species"].tolist() == ["NOCA", "", "WOTH"]
    with pytest.raises(AnnotationFormatError, match=r"columns found: .*Species.*type"):
        store.read(path, label_column="class_name")


def test_find_matches_pattern_any_case(store: AnnotationStore, tmp_path: Path) -> None:
    names = [
        "b/x.Table.1.selections.txt",
        "a.Table.1.SELECTIONS.TXT",
        "a.Table.1.selections.txt.lower",
    ]
    for name in names:
        store.write(_boxes(), tmp_path / name)
    found = store.find(tmp_path)
    assert found == sorted([tmp_path / names[0], tmp_path / names[1]])
    assert store.find(tmp_path, pattern="*.lower") == [tmp_path / names[2]]


def test_empty_set_round_trips(store: AnnotationStore, tmp_path: Path) -> None:
    path = tmp_path / "empty.selections.txt"
    store.write(AnnotationSet.empty(label_name="class"), path)
    back = store.read(path)
    assert len(back) == 0
    assert back.label_name == "class"


def test_missing_table_is_file_not_found(store: AnnotationStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        store.read(tmp_path / "nope.selections.txt")


def test_lowercase_copy_reads_back_in_lower_case(store: AnnotationStore, tmp_path: Path) -> None:
    path = tmp_path / "rec1.Table.1.selections.txt"
    store.write(_boxes(), path)
    copy = tmp_path / "rec1.Table.1.selections.txt.lower"
    store.write_lowercase(path, copy)
    back = store.read(copy)
    assert back.labels == ["noca", None, "woth"]
    assert back.label_name == "species"
    assert {k: v.tolist() for k, v in back.extra.items()} == {
        "type": ["song", "call", ""],
        "distance": ["near", "", "far"],
    }
    assert back.begin_time.tolist() == _boxes().begin_time.tolist()
    assert store.read(path).labels == ["NOCA", None, "WOTH"]  # the original is untouched
    with pytest.raises(FileNotFoundError, match="nope"):
        store.write_lowercase(tmp_path / "nope.selections.txt", copy)
