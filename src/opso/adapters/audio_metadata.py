"""Recording metadata from WAV chunks, FLAC/Ogg/MP3 tags and file names.

The RIFF chunks of a WAV (INFO, ``id3 ``, GUANO ``guan``) are walked with the standard library
(without reading the samples); GUANO text is parsed by the ``guano`` library. Other files'
tags (Vorbis comments of FLAC and Ogg, ID3 of MP3 and AIFF) are read by ``mutagen``. The
comments themselves go to the pure parsers of :mod:`opso.domain.recording_info`. Embedded
metadata wins over the file name.
"""

from __future__ import annotations

import errno
import io
import stat
import struct
from datetime import tzinfo
from pathlib import Path
from typing import Any, BinaryIO

import mutagen
from guano import GuanoFile  # type: ignore[import-untyped]
from mutagen._vorbis import VCommentDict
from mutagen.id3 import ID3

from opso.domain.recording_info import (
    OPSO_METADATA_PREFIX,
    RecordingInfo,
    combine,
    guano_info,
    parse_audiomoth_comment,
    parse_file_name,
    parse_opso_metadata,
)
from opso.ports.metadata import MetadataReader

#: Chunks read into memory; others (``data``) are skipped without reading.
_WANTED = (b"LIST", b"id3 ", b"ID3 ", b"guan")
#: A metadata chunk larger than this is not metadata a recorder wrote; it is skipped.
_MAX_CHUNK = 1 << 20
RIFF_ARTIST = "riff-artist"
#: The source of a device id taken from a FLAC/Ogg/MP3 ``artist`` tag.
TAG_ARTIST = "tag-artist"
#: Vorbis comment fields holding the recorder's comment: libsndfile (and opso) write
#: ``COMMENT``, ffmpeg writes a WAV's ``ICMT`` as ``DESCRIPTION``.
_VORBIS_COMMENTS = ("comment", "description")
#: mutagen's description of the comment it takes from an ID3v1 tag.
_ID3V1_COMMENT = "ID3v1 Comment"


class RiffMetadataReader(MetadataReader):
    """Read metadata from a WAV file's chunks or another file's tags, and from its name."""

    def read(self, path: Path, *, timezone: tzinfo | None = None) -> RecordingInfo:
        """Return the recording's metadata: GUANO, opso_metadata, AudioMoth comments, file name.

        Each field comes from the first of these that has it; a RIFF ``IART`` or an ``artist``
        tag fills the device id when none of them does. A FLAC, Ogg or MP3 file's comment
        tags are read as a WAV's comment chunks. Unreadable chunks or tags give warnings, not
        errors.

        Raises
        ------
        OSError
            If the file cannot be opened or is not a regular file (a FIFO or device would
            block or never end, so it is not opened).
        """
        if not stat.S_ISREG(path.stat().st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        infos: list[RecordingInfo] = []
        with path.open("rb") as fh:
            head = fh.read(12)
            if head[:4] == b"RIFF":
                chunks, warnings = _read_chunks(fh) if head[8:12] == b"WAVE" else ({}, [])
                if b"guan" in chunks:
                    infos.append(_guano(chunks[b"guan"], timezone))
                info_list = _info_list(chunks.get(b"LIST", b""))
                comments = [info_list.get(b"ICMT", "")]
                comments += _id3_comments(chunks.get(b"id3 ", b""))
                comments += _id3_comments(chunks.get(b"ID3 ", b""))
                artist, artist_source = info_list.get(b"IART"), RIFF_ARTIST
            else:
                comments, artist, warnings = _tags(fh) if _tagged(head) else ([], None, [])
                artist_source = TAG_ARTIST
        for comment in filter(None, comments):
            if comment.startswith(OPSO_METADATA_PREFIX):
                infos.append(parse_opso_metadata(comment, zone=timezone))
            else:
                infos.append(parse_audiomoth_comment(comment))
        if artist:
            infos.append(RecordingInfo(device_id=artist, sources={"device_id": artist_source}))
        infos.append(parse_file_name(path.name, zone=timezone))
        info = combine(infos)
        if warnings:
            return combine([info, RecordingInfo(warnings=tuple(warnings))])
        return info


def _tagged(head: bytes) -> bool:
    """Say whether a file's first bytes are those of FLAC, Ogg, AIFF or MP3 (ID3 or MPEG)."""
    mpeg = len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    return head[:4] in (b"fLaC", b"OggS", b"FORM") or head[:3] == b"ID3" or mpeg


def _tags(fh: BinaryIO) -> tuple[list[str], str | None, list[str]]:
    """Return a non-WAV file's comment texts, its artist and what went wrong, read by mutagen.

    Vorbis comments (FLAC, Ogg Vorbis/Opus/FLAC) give ``COMMENT`` then ``DESCRIPTION``; ID3
    (MP3, AIFF) gives its ``COMM`` frames then ``TXXX:comment`` (ffmpeg's).
    """
    fh.seek(0)
    try:
        found = mutagen.File(fh)
    except (mutagen.MutagenError, IndexError) as e:  # IndexError: a cut Vorbis comment packet
        return [], None, [f"audio tags cannot be read ({type(e).__name__}: {e})"]
    tags: Any = None if found is None else found.tags
    if tags is None:
        return [], None, []
    if isinstance(tags, ID3):
        comments, artists = _id3_texts(tags)
    elif isinstance(tags, VCommentDict):
        comments = [text for key in _VORBIS_COMMENTS for text in _vorbis_get(tags, key)]
        artists = _vorbis_get(tags, "artist")
    else:
        return [], None, []
    texts = [text.strip() for text in comments]
    return texts, next((a.strip() for a in artists if a.strip()), None), []


def _id3_texts(tags: Any) -> tuple[list[str], list[str]]:
    """Return an ID3 tag's comments (``COMM``, then ``TXXX:comment``) and artists (``TPE1``).

    An ID3v1 comment (at most 30 bytes; LAME writes a cut copy of the ID3v2 one) is used only
    when there is no other.
    """
    comments: list[str] = []
    short: list[str] = []
    for frame in tags.getall("COMM"):
        (short if frame.desc == _ID3V1_COMMENT else comments).extend(map(str, frame.text))
    for frame in tags.getall("TXXX"):
        if frame.desc.lower() == "comment":
            comments += [str(text) for text in frame.text]
    return comments or short, [str(text) for frame in tags.getall("TPE1") for text in frame.text]


def _vorbis_get(tags: Any, key: str) -> list[str]:
    """Return the values of a Vorbis comment field (names are case-insensitive)."""
    return [str(text) for text in tags.get(key, [])]


def _read_chunks(fh: BinaryIO) -> tuple[dict[bytes, bytes], list[str]]:
    """Return the wanted chunks of a RIFF/WAVE stream past its header and what went wrong.

    The first chunk of each id is kept.
    """
    chunks: dict[bytes, bytes] = {}
    warnings: list[str] = []
    end = fh.seek(0, 2)
    position = fh.seek(12)
    while position + 8 <= end:
        cid, size = struct.unpack("<4sI", fh.read(8))
        body_at = position + 8
        if cid in _WANTED and cid not in chunks:
            name = cid.decode("latin-1").strip()
            if body_at + size > end:
                warnings.append(
                    f"RIFF chunk {name!r} at byte {position} says {size} bytes but the file "
                    f"ends {end - body_at} bytes later; its metadata is not read"
                )
                break
            if size > _MAX_CHUNK:
                warnings.append(f"RIFF chunk {name!r} holds {size} bytes; skipped as too large")
            else:
                chunks[cid] = fh.read(size)
        position = fh.seek(body_at + size + (size & 1))
    return chunks, warnings


def _text(raw: bytes) -> str:
    """Decode chunk text (UTF-8, else Latin-1), without NUL padding and outer whitespace."""
    raw = raw.split(b"\x00", 1)[0]
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


def _info_list(body: bytes) -> dict[bytes, str]:
    """Return the sub-chunks of a ``LIST``/``INFO`` chunk body as ``{id: text}``."""
    if body[:4] != b"INFO":
        return {}
    out: dict[bytes, str] = {}
    i = 4
    while i + 8 <= len(body):
        cid, size = struct.unpack("<4sI", body[i : i + 8])
        out.setdefault(cid, _text(body[i + 8 : i + 8 + size]))
        i += 8 + size + (size & 1)
    return out


def _id3_comments(tag: bytes) -> list[str]:
    """Return the comments of a WAV's ID3 chunk (as :func:`_id3_texts`); none if unreadable."""
    if not tag:
        return []
    try:
        return _id3_texts(ID3(io.BytesIO(tag)))[0]  # type: ignore[no-untyped-call]
    except mutagen.MutagenError:
        return []


def _guano(body: bytes, timezone: tzinfo | None) -> RecordingInfo:
    """Parse a ``guan`` chunk with the guano library into a RecordingInfo."""
    try:
        parsed = GuanoFile.from_string(_text(body) if b"\x00" in body else body.decode("utf-8"))
        return guano_info(dict(parsed.items()), zone=timezone)
    except (ValueError, UnicodeDecodeError) as e:
        return RecordingInfo(warnings=(f"GUANO metadata cannot be parsed ({e})",))
