"""The spec's ``audio_tools`` module: sample-array filters and ffmpeg file tools.

The array functions live in :mod:`opso.domain.dsp`; ``convolve_file`` and
``mixdown_with_delays`` run ffmpeg through the default container's
:class:`~opso.ports.audio_tools.AudioTools` adapter.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from opso.api import default_container, silence_filter
from opso.domain.dsp import bandpass_filter, butter_bandpass, clipping_detector, window_energy
from opso.ports.audio_tools import AudioTools, MixDuration

__all__ = [
    "bandpass_filter",
    "butter_bandpass",
    "clipping_detector",
    "convolve_file",
    "mixdown_with_delays",
    "silence_filter",
    "window_energy",
]


def _tools() -> AudioTools:
    tools: AudioTools = default_container().audio_tools()
    return tools


def convolve_file(
    in_file: str | Path, out_file: str | Path, ir_file: str | Path, input_gain: float = 1.0
) -> str:
    """Apply an impulse response to an audio file with ffmpeg's ``afir`` convolution.

    The result sounds as if ``in_file`` had been recorded where ``ir_file`` (a short burst of
    noise or a click) was recorded.

    Parameters
    ----------
    in_file
        Audio file to process.
    out_file
        Where to save the result (format from its suffix); written atomically.
    ir_file
        Impulse-response audio file.
    input_gain
        Amplitude ratio applied to ``in_file`` before convolution, in ``(0, 10]``
        (usually ``(0, 1]``).

    Returns
    -------
    str
        ffmpeg's log output (empty when all went well).

    Raises
    ------
    FileNotFoundError
        If ``in_file`` or ``ir_file`` does not exist.
    AudioToolError
        If ffmpeg is missing or fails; the message carries ffmpeg's own, and no output file
        is left behind.
    """
    run = _tools().convolve(Path(in_file), Path(out_file), Path(ir_file), input_gain=input_gain)
    return run.output


def mixdown_with_delays(
    files_to_mix: Sequence[str | Path],
    destination: str | Path,
    delays: Sequence[float] | None = None,
    levels: Sequence[float] | None = None,
    duration: MixDuration = "first",
    verbose: int = 0,
    create_txt_file: bool = False,
) -> str:
    """Mix audio files into one, each starting after its own delay (padded with silence).

    Parameters
    ----------
    files_to_mix
        Audio files to mix.
    destination
        Where to save the mixdown (format from its suffix); written atomically.
    delays
        Seconds of silence before each file; None for no delays.
    levels
        Amplitude factor of each file; the output is ``sum_i levels[i] * file_i``. None mixes
        every file at ``1 / len(files_to_mix)`` (their average, as ffmpeg's ``amix`` does).
    duration
        Length of the output: that of the ``"first"``, ``"longest"`` or ``"shortest"``
        delayed input.
    verbose
        If > 0, print the ffmpeg command and return ffmpeg's full log.
    create_txt_file
        If True, also write ``<destination>_info.txt`` listing the mixed files.

    Returns
    -------
    str
        ffmpeg's log output (errors only unless ``verbose``).

    Raises
    ------
    ValueError
        If ``delays`` or ``levels`` do not match the files, a delay is negative or
        ``duration`` is unknown.
    FileNotFoundError
        If an input file does not exist.
    AudioToolError
        If ffmpeg is missing or fails; no output file is left behind.
    """
    files = [Path(f) for f in files_to_mix]
    n = len(files)
    tools = _tools()
    run = tools.mixdown(
        files,
        Path(destination),
        delays=[0.0] * n if delays is None else [float(d) for d in delays],
        levels=[1.0 / max(n, 1)] * n if levels is None else [float(x) for x in levels],
        duration=duration,
        verbose=verbose > 0,
    )
    if verbose > 0:
        print(shlex.join(run.command))
    if create_txt_file:
        tools.write_listing(files, Path(destination))
    return run.output
