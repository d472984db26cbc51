"""Audio I/O through libsndfile (python-soundfile) with soxr resampling."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from opso.adapters.atomic import atomic_path
from opso.adapters.soxr_resampling import check_resample_type, resample_chunks
from opso.domain.audio import Audio, AudioInfo
from opso.domain.errors import (
    AudioReadError,
    AudioWriteError,
    OpsoLoadAudioInputError,
    OpsoLoadAudioInputTooLong,
    ParameterError,
)
from opso.domain.recording_info import RecordingInfo, opso_metadata_comment
from opso.ports.audio_io import AudioReader, AudioSource, AudioWriter, ClipReader, ClipSource

_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aiff": "AIFF"}
_BLOCK_FRAMES = 1 << 18
#: Formats whose length libsndfile takes from a tag or estimates (OGG: the last page's granule
#: position; MP3: the Xing/Info frame or the bit rate): read them block by block, never
#: allocating from the header.
_STREAM_FORMATS = frozenset({"OGG", "MP3"})
#: Most frames an MPEG audio stream can hold per byte (8 kbit/s MPEG-2 layer III at 24 kHz).
_MPEG_FRAMES_PER_BYTE = 24
#: Subtypes that can store NaN and infinity.
_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
#: Subtypes whose samples numpy holds exactly, and the dtype they are read as for clip files.
_EXACT_DTYPES = {
    "PCM_S8": "int16",
    "PCM_U8": "int16",
    "PCM_16": "int16",
    "PCM_24": "int32",
    "PCM_32": "int32",
    "FLOAT": "float32",
    "DOUBLE": "float64",
}
#: libsndfile's length of a FLAC whose header does not give one (total samples 0).
_UNKNOWN_LENGTH = (1 << 63) - 1


def _describe(source: AudioSource) -> str:
    if not isinstance(source, Path):
        return f"<{type(source).__name__}>"
    text = str(source)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a name that is not UTF-8 (surrogate-escaped bytes)
        return ascii(text)
    return text


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


def _open_regular(path: Path) -> int:
    """Open a regular file for reading and return its descriptor; refuse anything else.

    A FIFO or device is refused before it is opened (opening it could block forever), and the
    file is opened without blocking; its bytes go to libsndfile through the descriptor, so any
    file name the operating system accepts can be read.
    """
    name = _describe(path)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise OpsoLoadAudioInputError(f"{name}: is a directory, not an audio file")
        if not stat.S_ISREG(mode):
            raise OpsoLoadAudioInputError(f"{name} is not a regular file ({_kind(mode)})")
        return os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as e:
        raise FileNotFoundError(errno.ENOENT, f"audio file not found: {name}", str(path)) from e
    except PermissionError as e:
        raise AudioReadError(f"permission denied reading {name}") from e
    except OSError as e:
        raise AudioReadError(f"cannot read {name}: {e.strerror or e}") from e


def _stream_size(stream: BinaryIO) -> int | None:
    """Bytes from the current position to the end of a seekable stream, else None."""
    try:
        here = stream.tell()
        size = stream.seek(0, os.SEEK_END) - here
        stream.seek(here)
    except (OSError, AttributeError, ValueError):
        return None
    return size


@contextlib.contextmanager
def _sound_file(source: AudioSource, name: str) -> Iterator[tuple[Any, int | None]]:
    """Open ``source`` with libsndfile; yield the SoundFile and the size in bytes (if known).

    Raises
    ------
    OpsoLoadAudioInputError
        Naming ``name``, for what libsndfile cannot read, on opening or in the ``with`` block.
    """
    try:
        if not isinstance(source, Path):
            size = _stream_size(source)
            with sf.SoundFile(source) as f:
                yield f, size
            return
        fd = _open_regular(source)
        try:
            with sf.SoundFile(fd, closefd=False) as f:
                yield f, os.fstat(fd).st_size
        finally:
            os.close(fd)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise OpsoLoadAudioInputError(f"{name}: not a readable audio file ({e})") from e


def _frames(f: Any, size: int | None, name: str) -> int:
    """Return the number of frames the file can really hold (the header, checked).

    PCM lengths libsndfile already bounds by the file size. A FLAC header's total is checked by
    reading its last frame; an MPEG header (Xing frame count or estimate) is capped by the most
    frames that many bytes can hold.

    Raises
    ------
    OpsoLoadAudioInputError
        If a FLAC header gives no length, or one the file does not hold.
    """
    frames = int(f.frames)
    if f.format == "FLAC":
        if frames == _UNKNOWN_LENGTH:
            raise OpsoLoadAudioInputError(
                f"{name}: the FLAC header does not give the length (an unfinished file?); "
                "re-encode it to write a complete header"
            )
        if frames and not _reaches(f, frames):
            raise OpsoLoadAudioInputError(
                f"{name}: the FLAC header says {frames} samples ({frames / f.samplerate:.3f} s) "
                "but the audio ends before that (a truncated or damaged file)"
            )
    elif f.format == "MP3" and size is not None:
        frames = min(frames, size * _MPEG_FRAMES_PER_BYTE)
    return frames


def _reaches(f: Any, frames: int) -> bool:
    """Say whether frame ``frames - 1`` can be decoded; leave the file at its start."""
    try:
        f.seek(frames - 1)
        last = len(f.read(1, dtype="float32", always_2d=True))
        f.seek(0)
    except sf.LibsndfileError:
        return False
    return last == 1


class SoundfileAudioIO(AudioReader, AudioWriter, ClipReader):
    """Read WAV, FLAC, OGG, MP3 (libsndfile) as mono float32; write clips atomically.

    Parameters
    ----------
    subtype
        libsndfile subtype for written files (e.g. ``"PCM_16"``, ``"FLOAT"``); None uses the
        format's default (16-bit PCM for WAV and FLAC).
    """

    def __init__(self, subtype: str | None = None) -> None:
        self._subtype = subtype

    def info(self, source: AudioSource) -> AudioInfo:
        """Read sample rate, channels, frames and format from the header.

        ``frames`` never exceeds what the file can hold (see :func:`_frames`).

        Raises
        ------
        FileNotFoundError
            If the path does not exist.
        AudioReadError
            If the file cannot be opened (e.g. permission denied).
        OpsoLoadAudioInputError
            If the source is not a regular file, not audio, or its header is damaged.
        """
        name = _describe(source)
        with _sound_file(source, name) as (f, size):
            return AudioInfo(
                sample_rate=int(f.samplerate),
                channels=int(f.channels),
                frames=_frames(f, size, name),
                format=str(f.format),
                subtype=str(f.subtype),
            )

    def read(
        self,
        source: AudioSource,
        *,
        sample_rate: int | None = None,
        resample_type: str = "kaiser_fast",
        max_duration: float | None = None,
        offset: float = 0.0,
        duration: float | None = None,
    ) -> Audio:
        """Decode mono float32 samples, optionally a window and resampled.

        Memory is never allocated from the header alone: lengths are checked against the file
        (:func:`_frames`) and OGG and MP3 are decoded block by block.

        Parameters
        ----------
        source
            A path or a binary file-like object (e.g. ``io.BytesIO``).
        sample_rate
            Output rate in Hz; None keeps the file's rate.
        resample_type
            A key of :data:`~opso.adapters.soxr_resampling.RESAMPLE_QUALITY`.
        max_duration
            Longest allowed length of the file in seconds, checked from the header first.
        offset, duration
            Window to decode, in seconds; only that window is read from disk.

        Raises
        ------
        FileNotFoundError
            If the path does not exist.
        AudioReadError
            If the file cannot be opened (e.g. permission denied).
        OpsoLoadAudioInputError
            If the source is not a regular file, not decodable audio, holds no frames, has a
            damaged header, or holds NaN or infinite samples (the message gives how many and
            the time of the first).
        OpsoLoadAudioInputTooLong
            If the file is longer than ``max_duration``.
        ValueError
            If ``sample_rate``, ``offset``, ``duration`` or ``resample_type`` is invalid.
        """
        if sample_rate is not None and (isinstance(sample_rate, bool) or sample_rate <= 0):
            raise ParameterError(
                f"sample_rate must be a positive integer or None, got {sample_rate!r}"
            )
        check_resample_type(resample_type)
        if offset < 0:
            raise ParameterError(f"offset must be >= 0 seconds, got {offset!r}")
        if duration is not None and duration <= 0:
            raise ParameterError(f"duration must be > 0 seconds, got {duration!r}")
        name = _describe(source)
        with _sound_file(source, name) as (f, size):
            samples, native = _decode(
                f,
                size,
                name,
                sample_rate=sample_rate,
                resample_type=resample_type,
                max_duration=max_duration,
                offset=offset,
                duration=duration,
            )
        samples.flags.writeable = False
        return Audio(samples, sample_rate or native, resample_type=resample_type)

    def read_clips(self, source: AudioSource, *, sample_rate: int | None = None) -> ClipSource:
        """Decode ``source`` once to write clips from it, in its own sample format if possible.

        A mono PCM or float WAV, FLAC or AIFF that is not resampled is read as it is stored
        (16-bit PCM as int16, float as float): its clips are its samples, written with its
        subtype, without a float round trip. Other recordings are decoded as :meth:`read`
        decodes them. See ``docs/decisions/0106-split-keeps-the-sample-format.md``.

        Raises
        ------
        FileNotFoundError, AudioReadError, OpsoLoadAudioInputError, ValueError
            As :meth:`read`.
        """
        if sample_rate is not None and (isinstance(sample_rate, bool) or sample_rate <= 0):
            raise ParameterError(
                f"sample_rate must be a positive integer or None, got {sample_rate!r}"
            )
        name = _describe(source)
        with _sound_file(source, name) as (f, size):
            subtype, native = str(f.subtype), int(f.samplerate)
            dtype = _EXACT_DTYPES.get(subtype)
            if (
                dtype is None
                or f.channels != 1
                or f.format in _STREAM_FORMATS
                or sample_rate not in (None, native)
            ):
                samples, native = _decode(f, size, name, sample_rate=sample_rate)
                return _FileClips(samples, sample_rate or native, subtype, self)
            frames = _frames(f, size, name)
            if frames == 0:
                raise OpsoLoadAudioInputError(f"{name}: holds no audio frames")
            stored: NDArray[Any] = f.read(frames, dtype=dtype)
            if subtype in _FLOAT_SUBTYPES:
                stored = _joined(_finite([stored], name=name, first_frame=0, rate=native))
        if stored.size == 0:
            raise OpsoLoadAudioInputError(f"{name}: holds no decodable audio frames")
        return _FileClips(stored, native, subtype, self)

    def write(self, audio: Audio, path: Path) -> None:
        """Write ``audio`` to ``path`` atomically; the format comes from the suffix.

        The file is encoded in memory and then written, so a full disk or a permission
        problem is reported as such, not as libsndfile's "System error.".

        Raises
        ------
        AudioWriteError
            If the suffix is not a writable format or libsndfile cannot encode the audio.
        OutputWriteError
            If the disk is full, over quota, read-only or not writable; no file is left.
        """
        self._write(
            audio.samples, audio.sample_rate, path, source_subtype=None, metadata=audio.metadata
        )

    def _write(
        self,
        samples: NDArray[Any],
        sample_rate: int,
        path: Path,
        *,
        source_subtype: str | None,
        metadata: RecordingInfo | None = None,
    ) -> None:
        """Encode ``samples`` in memory and write them to ``path`` atomically (see :meth:`write`).

        The file's subtype is the one this object was made with; else ``source_subtype`` if
        it is exact (:data:`_EXACT_DTYPES`) and the format can hold it; else the format's
        default. Integer samples are stored values of ``source_subtype``; written with another
        subtype, they are first scaled to float as libsndfile reads them. ``metadata`` goes
        into the file's comment (a RIFF ``ICMT`` for WAV) as ``opso_metadata{...}``.
        """
        fmt = _FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise AudioWriteError(
                f"{path}: cannot write audio with suffix {path.suffix!r}; "
                f"use one of {sorted(_FORMATS)}"
            )
        subtype = self._subtype
        if (
            subtype is None
            and source_subtype in _EXACT_DTYPES
            and sf.check_format(fmt, source_subtype)
        ):
            subtype = source_subtype
        if samples.dtype.kind == "i" and subtype != source_subtype:
            scale = np.float32(-1.0 / np.iinfo(samples.dtype).min)
            samples = samples.astype(np.float32) * scale
        encoded = io.BytesIO()
        comment = None if metadata is None else opso_metadata_comment(metadata)
        channels = 1 if samples.ndim == 1 else samples.shape[1]
        try:
            with sf.SoundFile(
                encoded, "w", sample_rate, channels, subtype=subtype, format=fmt
            ) as out:
                if comment is not None:
                    out.comment = comment
                out.write(samples)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
            raise AudioWriteError(f"{_describe(path)}: could not write audio ({e})") from e
        with atomic_path(path) as tmp:
            tmp.write_bytes(encoded.getbuffer())


class _FileClips(ClipSource):
    """A decoded recording's samples (as stored, or mono float32) to cut clip files from."""

    def __init__(
        self, samples: NDArray[Any], sample_rate: int, subtype: str, io: SoundfileAudioIO
    ) -> None:
        self._samples = samples
        self._sample_rate = sample_rate
        self._subtype = subtype
        self._io = io

    def duration(self) -> float:
        """Return the length in seconds."""
        return len(self._samples) / self._sample_rate

    def write_clip(
        self,
        begin_time: float,
        end_time: float,
        path: Path,
        *,
        length: float | None = None,
        metadata: RecordingInfo | None = None,
    ) -> None:
        """Write the samples ``Audio.trim`` keeps (looped to ``length`` s) to ``path``.

        ``metadata`` (the clip's own) goes into the file's comment.
        """
        n, rate = len(self._samples), self._sample_rate
        start = min(max(round(begin_time * rate), 0), n)
        stop = min(max(round(end_time * rate), start), n)
        clip = self._samples[start:stop]
        if length is not None:  # Audio.extend: loop from the clip's start (silence if empty)
            clip = np.resize(clip, round(length * rate))
        self._io._write(clip, rate, path, source_subtype=self._subtype, metadata=metadata)


def _decode(
    f: Any,
    size: int | None,
    name: str,
    *,
    sample_rate: int | None,
    resample_type: str = "kaiser_fast",
    max_duration: float | None = None,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[NDArray[np.float32], int]:
    """Decode an open SoundFile as :meth:`SoundfileAudioIO.read` does; return samples and rate.

    Raises
    ------
    OpsoLoadAudioInputError, OpsoLoadAudioInputTooLong, ValueError
        As :meth:`SoundfileAudioIO.read`.
    """
    native = int(f.samplerate)
    frames = _frames(f, size, name)
    if frames == 0:
        raise OpsoLoadAudioInputError(f"{name}: holds no audio frames")
    if max_duration is not None and frames / native > max_duration:
        raise OpsoLoadAudioInputTooLong(
            f"{name}: {frames / native:.3f} s long, over max_duration={max_duration} s"
        )
    start = round(offset * native)
    if start >= frames:
        raise ParameterError(f"{name}: offset {offset} s is past the end of the audio")
    f.seek(start)
    n = frames - start
    if duration is not None:
        n = min(n, round(duration * native))
    resample = sample_rate is not None and sample_rate != native
    chunks: Iterable[NDArray[np.float32]]
    if f.channels == 1 and f.format not in _STREAM_FORMATS and not resample:
        # one read of a length checked against the file: no copy, no concatenation
        chunks = [np.ascontiguousarray(f.read(n, dtype="float32", always_2d=True)[:, 0])]
    else:
        chunks = _mono_blocks(f, n)
    if f.subtype in _FLOAT_SUBTYPES:
        chunks = _finite(chunks, name=name, first_frame=start, rate=native)
    if sample_rate is not None and resample:
        samples = resample_chunks(chunks, native, sample_rate, resample_type)
    else:
        samples = _joined(chunks)
    if samples.size == 0:
        raise OpsoLoadAudioInputError(f"{name}: holds no decodable audio frames")
    return samples, native


def _mono_blocks(f: Any, frames: int) -> Iterator[NDArray[np.float32]]:
    """Yield up to ``frames`` frames of an open SoundFile as mono float32 blocks.

    Stops where the audio really ends, whatever the header said; memory stays one block.
    """
    buffer = np.empty((min(_BLOCK_FRAMES, max(frames, 0)), f.channels), dtype=np.float32)
    left = frames
    while left > 0:
        want = min(len(buffer), left)
        block = f.read(out=buffer[:want])
        if len(block):
            yield block[:, 0].copy() if f.channels == 1 else block.mean(axis=1, dtype=np.float32)
        if len(block) < want:
            return
        left -= want


def _finite(
    chunks: Iterable[NDArray[np.float32]], *, name: str, first_frame: int, rate: int
) -> Iterator[NDArray[np.float32]]:
    """Pass chunks on; after the last, raise if any held NaN or infinity.

    Raises
    ------
    OpsoLoadAudioInputError
        If a sample is not finite: how many, and the time of the first in the file.
    """
    bad, first, seen = 0, -1, first_frame
    for chunk in chunks:
        where = np.flatnonzero(~np.isfinite(chunk))
        if where.size:
            first = seen + int(where[0]) if first < 0 else first
            bad += int(where.size)
        seen += len(chunk)
        yield chunk
    if bad:
        raise OpsoLoadAudioInputError(
            f"{name}: {bad} non-finite samples (NaN/inf), the first at t={first / rate:.3f} s"
        )


def _joined(chunks: Iterable[NDArray[np.float32]]) -> NDArray[np.float32]:
    """Concatenate chunks (a single chunk is returned as it is)."""
    parts = list(chunks)
    return parts[0] if len(parts) == 1 else np.concatenate([np.zeros(0, np.float32), *parts])
