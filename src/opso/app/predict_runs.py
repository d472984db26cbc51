"""CNN prediction as a batch-run job: each worker loads the model once and scores its shards."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from opso.app.files import failure_reason
from opso.app.predict import KEY_COLUMNS, PredictFinalClip
from opso.app.runs import file_sha256
from opso.app.start_times import BEGIN_DATETIME, iso_moment, start_of
from opso.domain.audio import clip_times, clip_windows
from opso.domain.errors import OpsoError, ParameterError
from opso.domain.recording_info import parse_timezone
from opso.domain.runs import Segment, SegmentError, Shard, ShardOutput
from opso.ports.audio_io import AudioReader
from opso.ports.classifier import Classifier, ClassifierStore
from opso.ports.metadata import MetadataReader

#: Columns of the sparse output (``top_k`` / ``min_score``): one row per kept (clip, class).
SPARSE_COLUMNS = (*KEY_COLUMNS, "class", "score")


@dataclass
class PredictShards:
    """Score every clip of a shard's segments with a saved classifier (a :class:`ShardJob`).

    The model loads on the first call in each worker process and stays loaded; pickling the
    job (to send it to workers) leaves the loaded model behind.

    Parameters
    ----------
    reader, store
        Decode recordings; load the model file.
    model
        The model file.
    clip_duration
        Seconds per clip (default: the model's).
    clip_overlap, final_clip
        As ``opso predict``.
    batch_size
        Clips per model call.
    top_k, min_score
        Sparse output: keep, per clip, the ``top_k`` best classes (all if None) scoring at
        least ``min_score``, one row ``file, start_time, end_time, class, score`` each. Both
        None: one row per clip with a column per class.
    metadata, timezone
        With a metadata reader, rows get ``begin_datetime`` after ``end_time``: the moment
        the clip begins, in its recording's own time zone ("" when its start is unknown);
        ``timezone`` (an IANA name) places start times written without one (file names).
    """

    reader: AudioReader
    store: ClassifierStore
    model: Path
    clip_duration: float | None = None
    clip_overlap: float = 0.0
    final_clip: PredictFinalClip = None
    batch_size: int = 16
    top_k: int | None = None
    min_score: float | None = None
    metadata: MetadataReader | None = None
    timezone: str | None = None
    _classifier: Classifier | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ParameterError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.top_k is not None and self.top_k < 1:
            raise ParameterError(f"top_k must be >= 1, got {self.top_k}")
        if self.final_clip not in (None, "full", "extend"):
            raise ParameterError(
                f"final_clip must be None, 'full' or 'extend', got {self.final_clip!r}"
            )
        if self.timezone is not None:
            parse_timezone(self.timezone)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_classifier"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def sparse(self) -> bool:
        """Whether rows are (clip, class) pairs rather than one row per clip."""
        return self.top_k is not None or self.min_score is not None

    def classifier(self) -> Classifier:
        """Return the model, loading it on first use in this process."""
        if self._classifier is None:
            self._classifier = self.store.load(self.model)
        return self._classifier

    def duration(self) -> float:
        """Seconds per clip: the given one, else the model's."""
        pre = self.classifier().config.preprocessing
        return pre.clip_duration if self.clip_duration is None else self.clip_duration

    @property
    def step(self) -> float:
        """Seconds between clip starts (where long recordings are cut)."""
        return self.duration() - self.clip_overlap

    def settings(self) -> dict[str, Any]:
        """Everything that changes the scores: model bytes and config, clips, output form."""
        duration = self.duration()
        clip_times(duration, duration, self.clip_overlap, self.final_clip)  # validate
        return {
            "job": "predict",
            "model_sha256": file_sha256(self.model),
            "model": self.classifier().config.to_dict(),
            "clip_duration": duration,
            "clip_overlap": self.clip_overlap,
            "final_clip": self.final_clip,
            "top_k": self.top_k,
            "min_score": self.min_score,
            "clock_times": self.metadata is not None,
            "timezone": self.timezone,
        }

    def __call__(self, shard: Shard) -> ShardOutput:
        """Score the shard's clips; a segment that cannot be read becomes an error."""
        classifier = self.classifier()
        classes = list(classifier.config.classes)
        columns = list(SPARSE_COLUMNS if self.sparse else (*KEY_COLUMNS, *classes))
        if self.metadata is not None:
            columns.insert(columns.index("end_time") + 1, BEGIN_DATETIME)
        table: dict[str, list[Any]] = {c: [] for c in columns}
        errors: list[SegmentError] = []
        for segment in shard.segments:
            try:
                scored = list(self._score(classifier, segment))
            except (OpsoError, OSError, ValueError) as e:
                reason = failure_reason(e)
                errors.append(SegmentError(segment.source, segment.start, segment.end, reason))
                continue
            rows = len(table["file"])
            for (begin, end), scores in scored:
                self._add(table, classes, segment.source, begin, end, scores)
            if self.metadata is not None:
                zone = None if self.timezone is None else parse_timezone(self.timezone)
                start = start_of(self.metadata, Path(segment.source), timezone=zone)
                table[BEGIN_DATETIME] += [
                    "" if start is None else iso_moment(start, t)
                    for t in table["start_time"][rows:]
                ]
        return ShardOutput(table, tuple(errors))

    def _score(
        self, classifier: Classifier, segment: Segment
    ) -> Iterator[tuple[tuple[float, float], NDArray[np.float32]]]:
        pre = classifier.config.preprocessing
        duration = self.duration()
        times = segment.clip_times(duration, self.clip_overlap, self.final_clip)
        if not times:
            if not (segment.start == 0 and segment.is_last):
                return
            times = [(0.0, round(segment.duration, 9))]  # shorter than one clip: looped once
        first, last = times[0][0], max(e for _, e in times)
        audio = self.reader.read(
            Path(segment.source),
            sample_rate=pre.sample_rate,
            offset=first,
            duration=None if first == 0 and segment.is_last else last - first,
        )
        n = round(duration * pre.sample_rate)
        origin = round(first * audio.sample_rate)
        for i in range(0, len(times), self.batch_size):
            batch = times[i : i + self.batch_size]
            clips = clip_windows(audio.samples, audio.sample_rate, batch, n, origin=origin)
            scores = np.asarray(classifier.predict(clips), dtype=np.float32)
            yield from zip(batch, scores, strict=True)

    def _add(
        self,
        table: dict[str, list[Any]],
        classes: list[str],
        source: str,
        begin: float,
        end: float,
        scores: NDArray[np.float32],
    ) -> None:
        if not self.sparse:
            for c, v in zip(
                (*KEY_COLUMNS, *classes), (source, begin, end, *scores.tolist()), strict=True
            ):
                table[c].append(v)
            return
        order = np.argsort(-scores, kind="stable")
        if self.top_k is not None:
            order = order[: self.top_k]
        for k in order.tolist():
            score = float(scores[k])
            if self.min_score is not None and score < self.min_score:
                continue
            table["file"].append(source)
            table["start_time"].append(begin)
            table["end_time"].append(end)
            table["class"].append(classes[k])
            table["score"].append(score)
