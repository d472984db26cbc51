"""BirdNET through opso on real recordings: the scores LiteRT gives, species we know are there."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from ai_edge_litert.interpreter import Interpreter
from click.testing import CliRunner

import opso
from opso.adapters.litert_birdnet import birdnet_files
from opso.adapters.raven_files import RavenAnnotationStore
from opso.cli import main
from opso.container import Container
from opso.domain.pretrained import flat_sigmoid, pad_windows
from opso.pretrained import PretrainedDetector
from opso.resources import sample_recording

SNIPPET = Path("crowsetta/audio/Recording_1_Segment_07-snippet.wav")
SNIPPET_TABLE = Path(
    "crowsetta/raven/chronister2021_Recording_1/Recording_1_Segment_07.Table.1.selections.txt"
)
#: The 4-letter codes of the snippet's expert table that BirdNET can name.
CODES = {
    "EATO": "Pipilo erythrophthalmus",
    "WOTH": "Hylocichla mustelina",
    "NOCA": "Cardinalis cardinalis",
    "OVEN": "Seiurus aurocapilla",
    "REVI": "Vireo olivaceus",
    "BCCH": "Poecile atricapillus",
    "TUTI": "Baeolophus bicolor",
    "AMRO": "Turdus migratorius",
    "BLJA": "Cyanocitta cristata",
    "RBWO": "Melanerpes carolinus",
}


def _interpreter_logits(clips: np.ndarray) -> np.ndarray:
    model_file, _, _ = birdnet_files()
    it = Interpreter(model_path=str(model_file), num_threads=1)
    index = it.get_input_details()[0]["index"]
    it.resize_tensor_input(index, list(clips.shape))
    it.allocate_tensors()
    it.set_tensor(index, clips.astype(np.float32))
    it.invoke()
    return np.asarray(it.get_tensor(it.get_output_details()[0]["index"]))


def test_scores_equal_the_litert_interpreter_called_directly(birdnet: PretrainedDetector) -> None:
    _, rate = sf.read(sample_recording(), dtype="float32")
    resampled = opso.Audio.from_file(sample_recording(), sample_rate=48000).samples
    assert rate != 48000  # the sample is resampled on the way in
    times, clips = pad_windows(resampled, 48000, 3.0)
    expected = flat_sigmoid(_interpreter_logits(clips))
    table = birdnet.predict(sample_recording(), min_confidence=0.0)
    got = np.zeros_like(expected)
    index = {label: k for k, label in enumerate(birdnet.classes)}
    begins = [b for b, _ in times]
    for begin, scientific, common, confidence in zip(
        table["begin_time"].to_numpy(float),
        table["scientific_name"],
        table["common_name"],
        table["confidence"].to_numpy(float),
        strict=True,
    ):
        got[begins.index(float(begin)), index[f"{scientific}_{common}"]] = confidence
    assert len(table) == expected.size
    assert np.abs(got - expected).max() <= 1e-4  # the table rounds confidences to 4 places
    raw = birdnet.model.scores(clips)
    assert np.abs(raw - _interpreter_logits(clips)).max() <= 1e-5


@pytest.mark.filterwarnings("ignore:Warning. Enabling .experimental_preserve_all_tensors")
def test_embeddings_are_the_layer_before_the_classifier(birdnet: PretrainedDetector) -> None:
    audio = opso.Audio.from_file(sample_recording(), sample_rate=48000).samples
    _, clips = pad_windows(audio, 48000, 3.0)
    model_file, _, _ = birdnet_files()
    it = Interpreter(model_path=str(model_file), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    out = it.get_output_details()[0]["index"]
    it.set_tensor(it.get_input_details()[0]["index"], clips[:1])
    it.invoke()
    expected = np.asarray(it.get_tensor(out - 1))
    got = birdnet.model.embeddings(clips)
    assert got.shape == (len(clips), 1024)
    assert np.abs(got[:1] - expected).max() <= 1e-5


def test_top_detections_include_a_species_of_the_expert_table(
    birdnet: PretrainedDetector, test_data: Path
) -> None:
    with (test_data / SNIPPET_TABLE).open() as fh:
        codes = {row["Species"] for row in csv.DictReader(fh, delimiter="\t")}
    known = {CODES[c] for c in codes if c in CODES}
    table = birdnet.predict(test_data / SNIPPET, top_k=3)
    assert set(table["scientific_name"]) & known, table


def test_cli_predict_writes_detections_and_raven_tables(
    birdnet_container: Container, test_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "detections.csv"
    args = ["predict", "--model", "birdnet", str(test_data / SNIPPET), str(sample_recording())]
    result = CliRunner().invoke(
        main, [*args, "-o", str(out), "--raven", str(tmp_path / "raven")], obj=birdnet_container
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == [
        "file",
        "begin_time",
        "end_time",
        "scientific_name",
        "common_name",
        "confidence",
        "error",
    ]
    assert (table["confidence"] >= 0.1).all() and (table["error"] == "").all()
    raven = tmp_path / "raven" / "Recording_1_Segment_07-snippet.BirdNET.selections.txt"
    boxes = RavenAnnotationStore().read(raven, label_column="Common Name")
    snippet = table[table["file"] == str(test_data / SNIPPET)]
    assert boxes.labels == list(snippet["common_name"])
    assert list(boxes.begin_time) == list(snippet["begin_time"])
    assert list(boxes.high_f) == [15000.0] * len(snippet)
    assert (tmp_path / "raven" / "birds_10s.BirdNET.selections.txt").is_file()


def test_a_corrupt_file_gets_an_error_row_and_the_others_are_exact(
    birdnet_container: Container, test_data: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    alone, mixed = tmp_path / "alone.csv", tmp_path / "mixed.csv"
    good = str(test_data / SNIPPET)
    runner = CliRunner()
    r1 = runner.invoke(
        main, ["predict", "--model", "birdnet", good, "-o", str(alone)], obj=birdnet_container
    )
    r2 = runner.invoke(
        main,
        ["predict", "--model", "birdnet", str(bad), good, "-o", str(mixed)],
        obj=birdnet_container,
    )
    assert r1.exit_code == 0 and r2.exit_code == 0, r2.output
    assert "bad.wav" in r2.output
    a = pd.read_csv(alone, dtype=str, keep_default_na=False)
    m = pd.read_csv(mixed, dtype=str, keep_default_na=False)
    assert m.iloc[0]["file"] == str(bad) and m.iloc[0]["error"]
    pd.testing.assert_frame_equal(m.iloc[1:].reset_index(drop=True), a)


def test_a_recording_shorter_than_a_window_is_padded(
    birdnet: PretrainedDetector, short_moth: Path
) -> None:
    table = birdnet.embed(short_moth)
    assert len(table) == 1
    assert table.loc[0, "begin_time"] == 0.0 and table.loc[0, "end_time"] == pytest.approx(
        0.98, abs=0.01
    )
    assert table.filter(like="emb_").shape == (1, 1024)
    assert table.loc[0, "error"] == ""


def test_cli_embed_writes_parquet_with_an_error_row(
    birdnet_container: Container, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    out = tmp_path / "emb.parquet"
    args = ["embed", "--model", "birdnet", str(sample_recording()), str(bad), "-o", str(out)]
    result = CliRunner().invoke(main, [*args, "--overlap", "1.5"], obj=birdnet_container)
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    features = table.filter(like="emb_")
    assert features.shape[1] == 1024 and (features.dtypes == np.float32).all()
    assert list(table["begin_time"][:-1]) == [0.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0]
    assert table.iloc[-1]["file"] == str(bad) and table.iloc[-1]["error"]
    assert features.iloc[-1].isna().all() and not features.iloc[:-1].isna().any().any()


def test_species_list_and_location_filter_detections(
    birdnet: PretrainedDetector, tmp_path: Path
) -> None:
    everything = birdnet.predict(sample_recording(), min_confidence=0.05)
    one = everything["scientific_name"].iloc[0]
    only = birdnet.predict(sample_recording(), min_confidence=0.05, species=[one])
    assert set(only["scientific_name"]) == {one}
    # Ithaca, NY in June: the warblers of the sample are expected there, a tinamou is not
    here = birdnet.predict(sample_recording(), min_confidence=0.05, lat=42.4, lon=-76.5, week=22)
    assert "Crypturellus soui" in set(everything["scientific_name"])
    assert "Crypturellus soui" not in set(here["scientific_name"])
    assert len(here) > 0


def test_a_species_list_of_alpha_codes_keeps_the_north_american_species(
    birdnet_container: Container, test_data: Path, tmp_path: Path
) -> None:
    species = tmp_path / "species.txt"
    species.write_text("# the chorus's experts' codes\nWOTH\nBCCH\neastern towhee\n")
    out = tmp_path / "d.csv"
    args = ["predict", "--model", "birdnet", str(test_data / SNIPPET), "--min-confidence", "0"]
    result = CliRunner().invoke(
        main, [*args, "--species-list", str(species), "-o", str(out)], obj=birdnet_container
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    # BCCH is also Blue-crowned Chlorophonia's derived code: the species table settles it
    assert set(table["common_name"]) == {"Wood Thrush", "Black-capped Chickadee", "Eastern Towhee"}
    # a run directory settles the codes the same way
    run = tmp_path / "d.parquet"
    args += ["--species-list", str(species), "--run-dir", str(tmp_path / "run"), "--workers", "0"]
    ran = CliRunner().invoke(main, [*args, "-o", str(run)], obj=birdnet_container)
    assert ran.exit_code == 0, ran.output
    assert set(pd.read_parquet(run)["common_name"]) == set(table["common_name"])
