"""Audio file processing with the ffmpeg command-line tool (Debian's ``ffmpeg`` package).

ffmpeg always gets an argument list, never a shell. Every file name is passed as
``file:<path>``, so a name that starts with ``-`` or holds ``:``, ``;``, ``$(...)``, quotes or
spaces is only ever a file name; the filter graphs hold numbers and stream labels only.
Output goes to a temporary file beside the destination that is renamed on success.
"""

from __future__ import annotations

import errno
import math
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from opso.adapters.atomic import atomic_path, write_text_atomic
from opso.domain.errors import AudioToolError, ParameterError
from opso.ports.audio_tools import AudioTools, MixDuration, ToolRun

_MIX_DURATIONS = ("first", "longest", "shortest")
#: Keep this much of ffmpeg's log in an error message.
_MESSAGE_CHARS = 2000


def _file_arg(path: Path) -> str:
    """Return ``path`` as an ffmpeg URL that can only mean a local file."""
    return f"file:{path}"


def _number(x: float) -> str:
    """Format a finite float for a filter graph (no exponent, no locale)."""
    return f"{x:.9f}".rstrip("0").rstrip(".") or "0"


def _check_inputs(paths: Sequence[Path]) -> None:
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(errno.ENOENT, f"audio file not found: {p}", str(p))


class FfmpegAudioTools(AudioTools):
    """Convolution and mixdown through ffmpeg.

    Parameters
    ----------
    executable
        Name or path of the ffmpeg program, looked up on ``PATH`` when it is run.
    timeout
        Longest time in seconds one ffmpeg run may take; None for no limit.
    """

    def __init__(self, executable: str = "ffmpeg", timeout: float | None = None) -> None:
        self._executable = executable
        self._timeout = timeout

    def convolve(
        self, in_file: Path, out_file: Path, ir_file: Path, *, input_gain: float = 1.0
    ) -> ToolRun:
        """Convolve ``in_file`` with the impulse response ``ir_file`` (ffmpeg ``afir``).

        Parameters
        ----------
        in_file
            Audio to process.
        out_file
            Where the result goes (format from its suffix); written atomically.
        ir_file
            Impulse response recording.
        input_gain
            Gain of the input before convolution (``afir`` dry gain), in ``(0, 10]``.

        Raises
        ------
        ValueError
            If ``input_gain`` is outside ``(0, 10]``.
        FileNotFoundError
            If an input file does not exist.
        AudioToolError
            If ffmpeg is missing or fails; no output file is left behind.
        """
        if not (math.isfinite(input_gain) and 0 < input_gain <= 10):
            raise ParameterError(f"input_gain must be in (0, 10], got {input_gain!r}")
        _check_inputs([in_file, ir_file])
        graph = f"[0:a][1:a]afir=dry={_number(input_gain)}:wet=1:length=1:gtype=gn[out]"
        args = ["-i", _file_arg(in_file), "-i", _file_arg(ir_file), "-filter_complex", graph]
        return self._run(args, out_file, verbose=False)

    def mixdown(
        self,
        files: Sequence[Path],
        destination: Path,
        *,
        delays: Sequence[float],
        levels: Sequence[float],
        duration: MixDuration = "first",
        verbose: bool = False,
    ) -> ToolRun:
        """Mix files with delays (s) and levels (amplitude factors) into ``destination``.

        The output is ``sum_i levels[i] * input_i`` delayed by ``delays[i]`` seconds, with no
        further normalisation, lasting as long as the ``first``, ``longest`` or ``shortest``
        delayed input.

        Raises
        ------
        ValueError
            If there are no files, the delays or levels do not match the files in number, a
            delay is negative, a level is not finite, or ``duration`` is unknown.
        FileNotFoundError
            If an input file does not exist.
        AudioToolError
            If ffmpeg is missing or fails; no output file is left behind.
        """
        n = len(files)
        if n == 0:
            raise ParameterError("mixdown needs at least one input file")
        if len(delays) != n or len(levels) != n:
            raise ParameterError(
                f"need one delay and one level per file: {n} files, "
                f"{len(delays)} delays, {len(levels)} levels"
            )
        for d in delays:
            if not (math.isfinite(d) and d >= 0):
                raise ParameterError(f"delays must be finite and >= 0 seconds, got {d!r}")
        for lv in levels:
            if not math.isfinite(lv):
                raise ParameterError(f"levels must be finite numbers, got {lv!r}")
        if duration not in _MIX_DURATIONS:
            raise ParameterError(f"duration must be one of {_MIX_DURATIONS}, got {duration!r}")
        _check_inputs(files)
        chains = [
            f"[{i}:a]adelay=delays={_number(d * 1000.0)}:all=1,volume=volume={_number(lv)}[s{i}]"
            for i, (d, lv) in enumerate(zip(delays, levels, strict=True))
        ]
        labels = "".join(f"[s{i}]" for i in range(n))
        graph = ";".join([*chains, f"{labels}amix=inputs={n}:duration={duration}:normalize=0[out]"])
        args: list[str] = []
        for f in files:
            args += ["-i", _file_arg(f)]
        args += ["-filter_complex", graph]
        return self._run(args, destination, verbose=verbose)

    def write_listing(self, files: Sequence[Path], destination: Path) -> Path:
        """Write ``<destination>_info.txt`` naming the files of a mixdown, one per line."""
        listing = destination.with_name(destination.name + "_info.txt")
        text = "this file is a mixdown of:\n" + "".join(f"{f}\n" for f in files)
        write_text_atomic(listing, text)
        return listing

    def _run(self, args: list[str], out_file: Path, *, verbose: bool) -> ToolRun:
        exe = shutil.which(self._executable)
        if exe is None:
            raise AudioToolError(
                f"{self._executable!r} was not found on PATH; install ffmpeg "
                "(Debian/Ubuntu: apt-get install ffmpeg) to use the audio tools"
            )
        loglevel = "info" if verbose else "error"
        command: list[str] = []
        try:
            with atomic_path(out_file) as tmp:
                command = [
                    exe,
                    "-hide_banner",
                    "-nostdin",
                    "-loglevel",
                    loglevel,
                    *args,
                    "-map",
                    "[out]",
                    "-y",
                    _file_arg(tmp),
                ]
                proc = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=self._timeout,
                    check=False,
                )
                output = (proc.stderr or "") + (proc.stdout or "")
                if proc.returncode != 0:
                    raise AudioToolError(
                        f"ffmpeg failed (exit code {proc.returncode}) writing {out_file}: "
                        f"{output.strip()[-_MESSAGE_CHARS:] or 'no message'}"
                    )
        except subprocess.TimeoutExpired as e:
            raise AudioToolError(
                f"ffmpeg took longer than {self._timeout} s writing {out_file}; stopped"
            ) from e
        except OSError as e:
            raise AudioToolError(f"could not run ffmpeg to write {out_file}: {e}") from e
        shown = [*command[:-1], _file_arg(out_file)]  # the temporary name is an internal detail
        return ToolRun(tuple(shown), output)
