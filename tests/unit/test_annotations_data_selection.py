from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import opso
from opso import data_selection as ds


def test_spec_names_are_reachable() -> None:
    for name in (
        "expand_multi_labeled",
        "train_valid_split",
        "add_binary_numeric_labels",
        "add_numeric_labels",
        "upsample",
    ):
        assert getattr(opso, name) is getattr(ds, name)


def test_expand_multi_labeled_one_row_per_label() -> None:
    df = pd.DataFrame({"Destination": ["a.wav", "b.wav", "c.wav"], "Labels": ["x|y", "y", None]})
    out = ds.expand_multi_labeled(df)
    assert out["Destination"].tolist() == ["a.wav", "a.wav", "b.wav", "c.wav"]
    assert out["Labels"].tolist()[:3] == ["x", "y", "y"]
    assert out.index.tolist() == [0, 1, 2, 3]
    assert df["Labels"].tolist()[0] == "x|y"  # input unchanged
    semi = ds.expand_multi_labeled(
        pd.DataFrame({"L": ["a;b"]}), column_header="L", label_separator=";"
    )
    assert semi["L"].tolist() == ["a", "b"]
    with pytest.raises(KeyError, match="Labels"):
        ds.expand_multi_labeled(pd.DataFrame({"x": [1]}))


def test_train_valid_split_is_stratified_and_seeded() -> None:
    df = pd.DataFrame({"f": range(100), "Labels": ["a"] * 60 + ["b"] * 30 + ["c"] * 10})
    train, valid = ds.train_valid_split(df)
    assert len(train) == 80 and len(valid) == 20
    assert valid["Labels"].value_counts().to_dict() == {"a": 12, "b": 6, "c": 2}
    assert set(train["f"]) | set(valid["f"]) == set(range(100))
    assert not set(train["f"]) & set(valid["f"])
    again, _ = ds.train_valid_split(df)
    assert again["f"].tolist() == train["f"].tolist()
    other, _ = ds.train_valid_split(df, random_state=0)
    assert other["f"].tolist() != train["f"].tolist()
    assert train["f"].is_monotonic_increasing  # original order kept


def test_train_valid_split_with_single_row_classes() -> None:
    # sklearn's stratified split refuses classes with one row; here they go to training.
    df = pd.DataFrame({"f": range(12), "Labels": ["a"] * 10 + ["b", "c"]})
    train, valid = ds.train_valid_split(df, train_size=0.75)
    assert len(valid) == 3
    assert set(valid["Labels"]) == {"a"}
    assert {"b", "c"} <= set(train["Labels"])


def test_train_valid_split_without_stratification_and_errors() -> None:
    df = pd.DataFrame({"f": range(10)})
    train, valid = ds.train_valid_split(df, stratify_from_column=None, train_size=0.7)
    assert (len(train), len(valid)) == (7, 3)
    with pytest.raises(ValueError, match="train_size"):
        ds.train_valid_split(df, stratify_from_column=None, train_size=1.0)
    with pytest.raises(KeyError, match="Labels"):
        ds.train_valid_split(df)


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    train_size=st.sampled_from([0.5, 0.7, 0.8, 0.9]),
)
def test_train_valid_split_partitions_and_keeps_every_class(
    counts: list[int], train_size: float
) -> None:
    labels = [f"c{i}" for i, n in enumerate(counts) for _ in range(n)]
    df = pd.DataFrame({"f": range(len(labels)), "Labels": labels})
    train, valid = ds.train_valid_split(df, train_size=train_size, random_state=3)
    assert sorted([*train["f"], *valid["f"]]) == list(range(len(labels)))
    assert set(train["Labels"]) == set(labels)
    assert len(valid) <= len(labels) - int(train_size * len(labels) + 1e-9)


def test_add_binary_numeric_labels() -> None:
    df = pd.DataFrame({"Labels": ["hello", "world", "hello"]})
    out, label_map = ds.add_binary_numeric_labels(df, "hello")
    assert out["NumericLabels"].tolist() == [1, 0, 1]
    assert label_map == {"not_hello": 0, "hello": 1}
    assert "NumericLabels" not in df.columns
    out2, _ = ds.add_binary_numeric_labels(df, "world", output_column="y")
    assert out2["y"].tolist() == [0, 1, 0]


def test_add_numeric_labels_in_order_of_appearance() -> None:
    df = pd.DataFrame({"Labels": ["b", "a", "b", "c"]})
    out, label_map = ds.add_numeric_labels(df)
    assert label_map == {"b": 0, "a": 1, "c": 2}
    assert out["NumericLabels"].tolist() == [0, 1, 0, 2]


def test_upsample_balances_and_zero_is_a_seed() -> None:
    df = pd.DataFrame({"f": range(13), "Labels": ["hello"] * 12 + ["world"]})
    up = ds.upsample(df, random_state=0)
    assert up["Labels"].value_counts().to_dict() == {"hello": 12, "world": 12}
    assert sorted(up[up["Labels"] == "hello"]["f"]) == list(range(12))

    five = pd.DataFrame({"f": range(8), "Labels": ["a"] * 5 + ["b"] * 3})
    runs = [ds.upsample(five, random_state=0)["f"].tolist() for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]  # random_state=0 is reproducible, not "unseeded"
    counts = pd.Series(runs[0][5:]).value_counts()
    assert set(counts.index) == {5, 6, 7} and sorted(counts) == [1, 2, 2]
    assert ds.upsample(five.iloc[:0]).empty
