"""Decode the windows of a pretrained model (BirdNET) block by block, on one grid per recording.

Window ``k`` of a recording starts at sample ``k * step`` (at the model's rate) and holds ``n``
samples, the last zero-padded, later ones dropped under one second (see
:func:`opso.domain.pretrained.pad_windows`). A window is cut from block ``floor(start / B)``
(``B`` = :data:`BLOCK_SECONDS`), decoded from :data:`MARGIN_SECONDS` before the block to that
margin past its last window's end, in whole seconds, to the end of the file when it comes within
the margin of it. Whoever asks for a window (the streaming path over whole files, a run's
segment of a long file) decodes the same block the same way, so the samples are equal bit for
bit, also where they are resampled; and memory holds a block, not a recording.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from opso.domain.audio import Audio
from opso.domain.errors import OpsoLoadAudioInputError
from opso.domain.pretrained import MIN_WINDOW_SECONDS, window_samples, window_starts, window_time
from opso.ports.audio_io import AudioReader

#: Seconds of window starts per decoded block.
BLOCK_SECONDS = 60
#: Whole seconds decoded before and after a block's windows (more than a resampler's edge).
MARGIN_SECONDS = 1

#: One window: ``(begin, end)`` seconds of the audio it holds, and that audio (a view).
Window = tuple[tuple[float, float], NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class WindowGrid:
    """Where a model's windows fall: sample rate, samples per window and between starts."""

    sample_rate: int
    size: int
    step: int

    @classmethod
    def of(cls, sample_rate: int, clip_duration: float, overlap: float) -> WindowGrid:
        """Return the grid of ``clip_duration`` s windows every ``clip_duration - overlap`` s.

        Raises
        ------
        ParameterError
            If ``clip_duration <= 0`` or ``overlap`` is outside ``[0, clip_duration)``.
        """
        size, step = window_samples(sample_rate, clip_duration, overlap)
        return cls(sample_rate, size, step)

    def index(self, seconds: float) -> int:
        """Index of the first window starting at or after ``seconds``."""
        return math.ceil(seconds * self.sample_rate / self.step - 1e-6)


@dataclass(frozen=True, slots=True)
class _Block:
    first: int  # whole seconds
    stop: int | None  # whole seconds; None: to the end of the file
    windows: range  # window indices wanted from it


def _blocks(grid: WindowGrid, duration: float, lo: int, hi: int | None) -> list[_Block]:
    """Plan the blocks holding windows ``lo`` to ``hi`` (exclusive; None: to the end)."""
    sr, block = grid.sample_rate, BLOCK_SECONDS * grid.sample_rate
    total = round(duration * sr)
    plan = []
    b = lo * grid.step // block
    while True:
        k_end = -(-(b + 1) * block // grid.step)  # windows starting before the next block
        wanted = range(max(lo, -(-b * block // grid.step)), k_end if hi is None else min(hi, k_end))
        first = max(0, b * BLOCK_SECONDS - MARGIN_SECONDS)
        need = (k_end - 1) * grid.step + grid.size  # the sample after its last window
        stop: int | None = math.ceil(need / sr) + MARGIN_SECONDS
        if (math.ceil(need / sr) + 2 * MARGIN_SECONDS) * sr >= total:
            stop = None  # near the end: read it, to know the last window
        if len(wanted) or stop is None:
            plan.append(_Block(first, stop, wanted))
        if stop is None or (hi is not None and k_end >= hi):
            return plan
        b += 1


def _cut(grid: WindowGrid, source: Path, block: _Block, audio: Audio) -> list[Window]:
    """Cut a decoded block's wanted windows (a view each).

    Raises
    ------
    OpsoLoadAudioInputError
        If the audio ends before the windows the header promised.
    """
    sr, samples = grid.sample_rate, audio.samples
    origin = block.first * sr
    if block.stop is None:
        starts = window_starts(origin + len(samples), grid.step, round(MIN_WINDOW_SECONDS * sr))
        wanted = range(block.windows.start, min(block.windows.stop, len(starts)))
    else:
        wanted = block.windows
        need = (wanted[-1] * grid.step + grid.size) if wanted else origin
        if origin + len(samples) < need:
            raise OpsoLoadAudioInputError(
                f"{source}: audio ends at {(origin + len(samples)) / sr:.3f} s, before the "
                "end its header gives"
            )
    out = []
    for k in wanted:
        start = k * grid.step
        window = samples[start - origin : start - origin + grid.size]
        out.append((window_time(start, len(window), sr), window))
    return out


def recording_windows(
    reader: AudioReader,
    source: Path,
    grid: WindowGrid,
    *,
    duration: float,
    start: float = 0.0,
    end: float | None = None,
) -> Iterator[list[Window]]:
    """Yield the windows starting in ``[start, end)`` seconds of a recording, a block at a time.

    ``end`` None runs to the end of the file; ``duration`` is the file's from its header. The
    next block decodes (in a thread) while the caller uses the current one.

    Raises
    ------
    OpsoLoadAudioInputError, OSError, ValueError
        If a block cannot be read (blocks before it have been yielded).
    """
    plan = _blocks(grid, duration, grid.index(start), None if end is None else grid.index(end))

    def read(block: _Block) -> Audio:
        return reader.read(
            source,
            sample_rate=grid.sample_rate,
            offset=float(block.first),
            duration=None if block.stop is None else float(block.stop - block.first),
        )

    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead: Future[Audio] | None = pool.submit(read, plan[0]) if plan else None
        for i, block in enumerate(plan):
            assert ahead is not None
            audio = ahead.result()
            ahead = pool.submit(read, plan[i + 1]) if i + 1 < len(plan) else None
            yield _cut(grid, source, block, audio)
