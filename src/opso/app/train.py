"""Use-case: train a classifier from a label table of audio files."""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opso.domain.classifier import (
    LabelledClip,
    ModelConfig,
    Precision,
    Preprocessing,
    TrainReport,
    class_targets,
)
from opso.domain.errors import LabelTableError, ParameterError
from opso.ports.classifier import ClassifierTrainer
from opso.ports.progress import Progress, no_progress

if TYPE_CHECKING:
    import pandas as pd

#: Column names taken as the file column when none is named, in this order.
FILE_COLUMNS = ("file", "Destination", "clip", "path", "filename", "source")
_TIME_COLUMNS = ("start_time", "end_time", "begin_time")


def _file_column(table: pd.DataFrame, name: str | None) -> str:
    if name is not None:
        if name not in table.columns:
            raise LabelTableError(f"the label table has no column {name!r}")
        return name
    for candidate in FILE_COLUMNS:
        if candidate in table.columns:
            return candidate
    raise LabelTableError(
        f"the label table needs a file column (one of {list(FILE_COLUMNS)}, or name it); "
        f"columns are {list(table.columns)}"
    )


def _present(value: object) -> str:
    """Show a table cell in an error message: ``'yes'``, ``2``, ``an empty cell``."""
    import numpy as np
    import pandas as pd

    if pd.isna(value):  # type: ignore[call-overload]
        return "an empty cell"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _one_hot(column: pd.Series[Any], name: str, *, hint: str = "") -> list[bool]:
    """Read a class column of 0/1 values (numbers, true/false or their text).

    Raises
    ------
    LabelTableError
        Naming the column, the row (counted from 1, the first line after the header) and the
        value of the first cell that is not 0 or 1.
    """
    flags: list[bool] = []
    for i, value in enumerate(column.tolist(), start=1):
        text = value.strip().lower() if isinstance(value, str) else value
        if text in (1, True, "1", "1.0", "true"):  # 1 == 1.0 == True
            flags.append(True)
        elif text in (0, False, "0", "0.0", "false"):
            flags.append(False)
        else:
            raise LabelTableError(
                f"class column {name!r}, row {i}: {_present(value)} is not 0 or 1{hint}"
            )
    return flags


def marks_to_labels(review: pd.DataFrame) -> pd.DataFrame:
    """Turn the marks ``opso review`` saves (``review.csv``) into a 0/1 label table.

    Each reviewed clip (``file, start_time, end_time``) becomes one row with a column per
    reviewed class: 1 where it was marked present for that class, 0 otherwise, so absent marks
    are negatives. Clips marked only unsure (or not at all) are left out.

    Raises
    ------
    LabelTableError
        If no clip is marked present or absent.
    """
    marks = review["mark"].fillna("").astype(str).str.strip().str.lower()
    keep = marks.isin(["present", "absent"])
    decided = review[keep].assign(value=(marks[keep] == "present").astype(int))
    if decided.empty:
        raise LabelTableError("the review table has no clip marked present or absent")
    keys = ["file", "start_time", "end_time"]
    wide = decided.pivot_table(
        index=keys, columns="class", values="value", aggfunc="max", fill_value=0
    )
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


def labelled_clips(
    table: pd.DataFrame,
    *,
    classes: Sequence[str] | None = None,
    file_column: str | None = None,
    label_column: str | None = None,
    audio_root: Path | None = None,
    multi_target: bool | None = None,
) -> tuple[list[LabelledClip], list[str], bool]:
    """Read a label table into labelled clips.

    Three layouts are read. The marks of ``opso review`` (``file, ..., class, mark``) are
    turned into 0/1 columns first (see :func:`marks_to_labels`). With ``label_column``: one
    class name per row (single-target;
    several separated by ``|`` for multi-target). Without: one 0/1 column per class (a
    one-hot or multi-hot table, as the labelling commands write); every column but the file
    and time columns (and the other :data:`FILE_COLUMNS`) is a class unless ``classes``
    names them. Optional ``start_time`` and ``end_time`` columns select a window of each file
    (``begin_time`` and ``end_time`` of each ``source`` recording in the tables ``opso label``
    writes without ``--save-clips``). Rows are counted from 1 in messages.

    Parameters
    ----------
    table
        The label table.
    classes
        Class names in output order (default: the sorted labels, or every class column).
    file_column
        Column of audio paths (default: the first of :data:`FILE_COLUMNS` present).
    label_column
        Column of class names, for the first layout.
    audio_root
        Folder that relative paths are relative to.
    multi_target
        Force the task; None: multi-target if there is one class (a detector with one
        sigmoid output) or any row has other than exactly one class.

    Returns
    -------
    (list of LabelledClip, list of str, bool)
        The clips, the classes, and whether the task is multi-target.

    Raises
    ------
    LabelTableError
        If the table is empty, lacks a column, holds a value other than 0 or 1 in a class
        column (naming column, row and value), names a class outside ``classes``, or has a
        row with no or several classes in a single-target task.
    """
    import pandas as pd

    if len(table) == 0:
        raise LabelTableError("the label table is empty")
    if label_column is None and {"file", "class", "mark"} <= set(table.columns):
        table = marks_to_labels(table)
    fcol = _file_column(table, file_column)
    rows: list[tuple[Path, list[str]]] = []
    if label_column is not None:
        if label_column not in table.columns:
            raise LabelTableError(f"the label table has no column {label_column!r}")
        for i, value in enumerate(table[label_column]):
            if pd.isna(value) or not str(value).strip():
                raise LabelTableError(f"row {i + 1}: empty label in column {label_column!r}")
            labels = [v.strip() for v in str(value).split("|") if v.strip()]
            rows.append((Path(str(table[fcol].iloc[i])), labels))
        found = sorted({lab for _, labels in rows for lab in labels})
        class_list = list(classes) if classes is not None else found
    else:
        reserved = {fcol, *FILE_COLUMNS, *_TIME_COLUMNS}
        if classes is None:
            class_list = [str(c) for c in table.columns if c not in reserved]
        else:
            class_list = list(classes)
        missing = [c for c in class_list if c not in table.columns]
        if missing:
            raise LabelTableError(
                f"class column(s) {missing} not in the label table; give --label-column for a "
                "table of class names"
            )
        if not class_list:
            raise LabelTableError(
                f"no class columns in the label table (columns are {list(table.columns)}); "
                "give one 0/1 column per class, or --label-column"
            )
        hint = (
            ""
            if classes is not None
            else " (every column but the file and time columns is a class; name the classes "
            "to leave other columns out)"
        )
        flags = {c: _one_hot(table[c], c, hint=hint) for c in class_list}
        for i in range(len(table)):
            labels = [c for c in class_list if flags[c][i]]
            rows.append((Path(str(table[fcol].iloc[i])), labels))
    if len(set(class_list)) != len(class_list) or not class_list:
        raise LabelTableError(f"classes must be distinct and non-empty, got {class_list}")
    counts = [len(labels) for _, labels in rows]
    multi = (
        multi_target
        if multi_target is not None
        else len(class_list) == 1 or any(c != 1 for c in counts)
    )
    clips: list[LabelledClip] = []
    for i, (path, labels) in enumerate(rows):
        try:
            targets = class_targets(labels, class_list)
        except ValueError as e:
            raise LabelTableError(f"row {i + 1} ({path}): {e}") from e
        if not multi and len(labels) != 1:
            raise LabelTableError(
                f"row {i + 1} ({path}): {len(labels)} classes in a single-target table; "
                "use multi-target training for clips with no or several classes"
            )
        source = path if path.is_absolute() or audio_root is None else audio_root / path
        # `opso label` tables name a recording `source` and its window `begin_time`/`end_time`
        start = _time(table, "begin_time" if fcol == "source" else "start_time", i)
        end = _time(table, "end_time", i)
        clips.append(LabelledClip(source, targets, start, end))
    return clips, class_list, multi


def _time(table: pd.DataFrame, column: str, i: int) -> float | None:
    import pandas as pd

    if column not in table.columns:
        return None
    value = table[column].iloc[i]
    return None if pd.isna(value) else float(value)


def _window_length(clips: Sequence[LabelledClip]) -> float | None:
    """Return the one window length (s) of every clip, or None if they have none or several."""
    lengths = {
        round(c.end_time - c.start_time, 6)
        for c in clips
        if c.start_time is not None and c.end_time is not None
    }
    if len(lengths) != 1 or any(c.end_time is None for c in clips):
        return None
    return lengths.pop()


def split_train_valid(
    clips: Sequence[LabelledClip], valid_fraction: float, *, seed: int = 0
) -> tuple[list[LabelledClip], list[LabelledClip]]:
    """Split clips per class combination so both sets keep the class balance.

    Each group of clips with the same targets gives ``round(valid_fraction * n)`` clips
    (at least one when it has two or more) to validation. ``valid_fraction`` 0 keeps every
    clip for training (no validation set).

    Raises
    ------
    ParameterError
        If ``valid_fraction`` is not in [0, 1), or it is above 0 and no clip ends up in one of
        the sets.
    """
    if not 0 <= valid_fraction < 1:
        raise ParameterError(f"valid_fraction must be in [0, 1), got {valid_fraction!r}")
    if valid_fraction == 0:
        return list(clips), []
    rng = random.Random(seed)
    groups: dict[tuple[float, ...], list[LabelledClip]] = {}
    for c in clips:
        groups.setdefault(c.targets, []).append(c)
    train: list[LabelledClip] = []
    valid: list[LabelledClip] = []
    for key in sorted(groups):
        members = groups[key][:]
        rng.shuffle(members)
        k = round(valid_fraction * len(members))
        k = min(max(k, 1 if len(members) >= 2 else 0), len(members) - 1)
        valid += members[:k]
        train += members[k:]
    if not train or not valid:
        raise ParameterError(
            f"cannot split {len(clips)} clips into training and validation sets; "
            "label more clips, give a validation table, or train without validation "
            "(valid fraction 0)"
        )
    return train, valid


@dataclass(frozen=True)
class TrainClassifier:
    """Train a CNN from a label table and save it with its checkpoints."""

    trainer: ClassifierTrainer

    def run(
        self,
        *,
        labels: pd.DataFrame,
        save_dir: Path,
        classes: Sequence[str] | None = None,
        valid_labels: pd.DataFrame | None = None,
        file_column: str | None = None,
        label_column: str | None = None,
        audio_root: Path | None = None,
        multi_target: bool | None = None,
        architecture: str = "resnet18",
        preprocessing: Preprocessing | None = None,
        clip_duration: float | None = None,
        pretrained_weights: Path | None = None,
        valid_fraction: float = 0.2,
        epochs: int = 10,
        batch_size: int = 16,
        learning_rate: float = 1e-3,
        log_every: int = 5,
        seed: int = 0,
        precision: Precision = "auto",
        progress: Progress = no_progress,
    ) -> TrainReport:
        """Read the labels, check every file exists, split, train and save the model.

        ``valid_fraction`` of each class is held out for validation unless ``valid_labels``
        is given; 0 trains on every clip without validation. ``precision``: ``auto`` (bfloat16
        autocast where the hardware computes it natively, else float32), ``bf16`` or ``fp32``;
        the weights and the model file are float32 either way.

        ``clip_duration`` (seconds) overrides the preprocessing's; None takes the label
        table's window length when all its windows (``start_time``-``end_time``) have one, so
        labels made with 2 s clips train on 2 s clips. A given duration that differs from the
        table's windows, and classes without a single positive training clip, are warned about
        (``UserWarning``).

        Returns
        -------
        TrainReport
            The model file (``save_dir/model.opso``, the epoch with the lowest validation loss,
            or the last epoch without validation; ``last_model_path`` is the last epoch),
            checkpoints, per-epoch summary and the precision used.

        Raises
        ------
        ParameterError
            If ``valid_fraction`` is not in [0, 1) or the split leaves a set empty, or
            ``precision`` is not auto, bf16 or fp32, or is bf16 where the hardware has none.
        LabelTableError
            For an empty or inconsistent label table (see :func:`labelled_clips`).
        FileNotFoundError
            If a labelled audio file does not exist (checked before training).
        """
        read = dict(
            file_column=file_column,
            label_column=label_column,
            audio_root=audio_root,
        )
        clips, class_list, multi = labelled_clips(
            labels,
            classes=classes,
            multi_target=multi_target,
            **read,  # type: ignore[arg-type]
        )
        if valid_labels is not None:
            valid, _, _ = labelled_clips(
                valid_labels,
                classes=class_list,
                multi_target=multi,
                **read,  # type: ignore[arg-type]
            )
            train = clips
        else:
            train, valid = split_train_valid(clips, valid_fraction, seed=seed)
        missing = [str(c.source) for c in (*train, *valid) if not c.source.is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise FileNotFoundError(f"labelled audio not found: {', '.join(missing[:3])}{more}")
        pre = preprocessing if preprocessing is not None else Preprocessing()
        window = _window_length(clips)
        if clip_duration is not None:
            if window is not None and abs(window - clip_duration) > 1e-6:
                warnings.warn(
                    f"the label table's windows are {window:g} s long but training uses "
                    f"{clip_duration:g} s clips: each window is looped or cut to fit",
                    stacklevel=2,
                )
            pre = replace(pre, clip_duration=clip_duration)
        elif window is not None:
            pre = replace(pre, clip_duration=window)
        empty = [
            name for k, name in enumerate(class_list) if not any(c.targets[k] > 0 for c in train)
        ]
        if empty:
            warnings.warn(
                f"no positive training clip for class(es) {', '.join(empty)}: the model cannot "
                "learn them",
                stacklevel=2,
            )
        config = ModelConfig(
            architecture=architecture,
            classes=tuple(class_list),
            multi_target=multi,
            preprocessing=pre,
        )
        return self.trainer.train(
            config=config,
            train_clips=train,
            valid_clips=valid,
            save_dir=save_dir,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            log_every=log_every,
            pretrained_weights=pretrained_weights,
            seed=seed,
            progress=progress,
            precision=precision,
        )
