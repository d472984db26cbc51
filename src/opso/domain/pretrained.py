"""Pure maths of pretrained detectors (BirdNET): windows, sensitivity sigmoid, label names."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from opso.domain.errors import ParameterError, UnknownSpeciesError
from opso.domain.taxa import Taxonomy, alpha_code, name_key

#: A final window holding less audio than this (seconds) is dropped, as BirdNET-Analyzer does.
MIN_WINDOW_SECONDS = 1.0


def pad_windows(
    samples: NDArray[np.float32],
    sample_rate: int,
    clip_duration: float,
    overlap: float = 0.0,
    *,
    min_seconds: float = MIN_WINDOW_SECONDS,
) -> tuple[list[tuple[float, float]], NDArray[np.float32]]:
    """Cut BirdNET windows: every ``clip_duration - overlap`` s, the last one padded with zeros.

    Windows start at ``k * (clip_duration - overlap)`` seconds while the recording lasts; a
    window that runs past the end is zero-padded to ``clip_duration`` (BirdNET pads, where
    opso's own models loop, see :func:`opso.domain.audio.fixed_length`). A window after the
    first holding less than ``min_seconds`` of audio is dropped; the first window is always
    kept, so a recording shorter than one window is padded to one window.

    Returns
    -------
    (times, clips)
        ``(begin, end)`` seconds of the audio each window holds (``end`` is the recording's end
        for a padded window), and the windows [shape=(len(times), clip_samples)].

    Raises
    ------
    ParameterError
        If ``clip_duration <= 0`` or ``overlap`` is outside ``[0, clip_duration)``.
    """
    n, step = window_samples(sample_rate, clip_duration, overlap)
    starts = window_starts(len(samples), step, round(min_seconds * sample_rate))
    clips = np.zeros((len(starts), n), dtype=np.float32)
    times = []
    for k, start in enumerate(starts):
        window = samples[start : start + n]
        clips[k, : len(window)] = window
        times.append(window_time(start, len(window), sample_rate))
    return times, clips


def window_samples(sample_rate: int, clip_duration: float, overlap: float) -> tuple[int, int]:
    """Return the samples per window and between window starts.

    Raises
    ------
    ParameterError
        If ``clip_duration <= 0`` or ``overlap`` is outside ``[0, clip_duration)``.
    """
    if not clip_duration > 0 or not math.isfinite(clip_duration):
        raise ParameterError(f"clip_duration must be a positive number of seconds: {clip_duration}")
    if not 0 <= overlap < clip_duration:
        raise ParameterError(f"overlap must be in [0, {clip_duration}) seconds, got {overlap}")
    return round(clip_duration * sample_rate), round((clip_duration - overlap) * sample_rate)


def window_starts(n_samples: int, step: int, min_samples: int) -> range:
    """First sample of each window of a recording of ``n_samples`` (see :func:`pad_windows`).

    Windows start every ``step`` samples while the recording lasts; a window after the first
    that holds fewer than ``min_samples`` samples is dropped.
    """
    if n_samples <= 0:
        return range(0)
    before_end = -(-n_samples // step)
    with_enough = (n_samples - min_samples) // step + 1 if n_samples >= min_samples else 1
    return range(0, min(before_end, with_enough) * step, step)


def window_time(start: int, length: int, sample_rate: int) -> tuple[float, float]:
    """``(begin, end)`` seconds of a window of ``length`` samples from sample ``start``."""
    return round(start / sample_rate, 6), round((start + length) / sample_rate, 6)


def check_sensitivity(sensitivity: float) -> None:
    """Refuse a BirdNET sensitivity outside ``[0.5, 1.5]`` (BirdNET-Analyzer's range)."""
    if not 0.5 <= sensitivity <= 1.5:
        raise ParameterError(f"sensitivity must be in [0.5, 1.5], got {sensitivity}")


def flat_sigmoid(logits: NDArray[np.float32], sensitivity: float = 1.0) -> NDArray[np.float32]:
    """Turn BirdNET logits into confidences as BirdNET-Analyzer does.

    ``1 / (1 + exp(-(2 - sensitivity) * clip(logits, -15, 15)))``: a higher sensitivity
    flattens the curve, so more windows pass a confidence threshold.

    Raises
    ------
    ParameterError
        If ``sensitivity`` is outside ``[0.5, 1.5]``.
    """
    check_sensitivity(sensitivity)
    slope = 1.0 - (sensitivity - 1.0)
    clipped = np.clip(np.asarray(logits, dtype=np.float64), -15.0, 15.0)
    return np.asarray(1.0 / (1.0 + np.exp(-slope * clipped)), dtype=np.float32)


def check_location(
    latitude: float | None, longitude: float | None, week: int | None
) -> tuple[float, float, int] | None:
    """Validate a species-range query; None when no location is given.

    ``week`` is BirdNET's week of a 48-week year (1-48), or -1 for the whole year (the
    default when only a location is given).

    Raises
    ------
    ParameterError
        If only one of latitude and longitude is given, either is out of range, or the week is
        neither -1 nor in 1-48, or a week is given without a location.
    """
    if latitude is None and longitude is None:
        if week is not None:
            raise ParameterError("--week needs --lat and --lon")
        return None
    if latitude is None or longitude is None:
        raise ParameterError("give both --lat and --lon")
    if not -90 <= latitude <= 90:
        raise ParameterError(f"latitude must be in [-90, 90], got {latitude}")
    if not -180 <= longitude <= 180:
        raise ParameterError(f"longitude must be in [-180, 180], got {longitude}")
    week = -1 if week is None else week
    if week != -1 and not 1 <= week <= 48:
        raise ParameterError(f"week must be in 1-48 (or -1 for the whole year), got {week}")
    return latitude, longitude, week


def split_label(label: str) -> tuple[str, str]:
    """Split a BirdNET label ``"Scientific name_Common name"`` into its two names."""
    scientific, _, common = label.partition("_")
    return scientific.strip(), (common or scientific).strip()


def select_species(
    labels: Sequence[str], names: Sequence[str], *, source: str, taxonomy: Taxonomy | None = None
) -> NDArray[np.bool_]:
    """Mask of the labels named in ``names``.

    A name is a BirdNET label, a scientific or common name (compared ignoring case, spaces,
    hyphens and apostrophes: ``black-capped chickadee`` is ``Black-capped Chickadee``), or a
    four-letter Alpha code derived from the common name (``BCCH``, see
    :func:`opso.domain.taxa.alpha_code`). A code several labels share is settled by
    ``taxonomy`` when it knows the code (its North American species table first:
    ``BCCH`` is Black-capped Chickadee, not Blue-crowned Chlorophonia).

    Raises
    ------
    ParameterError
        If a name matches no label (the first few are listed, with close names), or an Alpha
        code matches several species (they are listed: give one of their names instead).
    """
    index: dict[str, set[int]] = {}
    codes: dict[str, set[int]] = {}
    display: dict[str, str] = {}
    for i, label in enumerate(labels):
        scientific, common = split_label(label)
        for name in {label.strip(), scientific, common}:
            index.setdefault(name_key(name), set()).add(i)
            display[name_key(name)] = name
        code = alpha_code(common) if common else None
        if code is not None:
            codes.setdefault(code, set()).add(i)
    mask = np.zeros(len(labels), dtype=bool)
    unknown: list[str] = []
    for name in names:
        hits = index.get(name_key(name))
        if hits is None and len(name.strip()) == 4 and name.strip().isalpha():
            hits = codes.get(name.strip().upper())
            if hits is not None and len(hits) > 1:
                hits = _settled(name, taxonomy, index) or hits
            if hits is not None and len(hits) > 1:
                which = ", ".join(sorted(split_label(labels[k])[1] for k in hits))
                raise ParameterError(
                    f"{source}: Alpha code {name.strip()!r} fits several species ({which}); "
                    "give the common or scientific name"
                )
        if hits is None:
            unknown.append(name)
        else:
            mask[sorted(hits)] = True
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        close = difflib.get_close_matches(name_key(unknown[0]), list(display), n=3, cutoff=0.75)
        hint = f" (did you mean {', '.join(display[c] for c in close)}?)" if close else ""
        raise ParameterError(f"{source}: species not in the model's labels: {shown}{more}{hint}")
    return mask


def _settled(code: str, taxonomy: Taxonomy | None, index: dict[str, set[int]]) -> set[int] | None:
    """Return the labels of the one species ``taxonomy`` gives an ambiguous code, if any."""
    if taxonomy is None:
        return None
    try:
        species = taxonomy.lookup(code)
    except UnknownSpeciesError:
        return None
    return index.get(name_key(species.scientific))
