"""Clock time: recording spans, audio that keeps its start time, reading and finding by moment."""

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opso.adapters.memory import InMemoryAudioIO, InMemoryMetadataReader
from opso.app.recording_times import FindRecordings, ReadAtTime
from opso.domain.audio import Audio
from opso.domain.errors import ParameterError, StartTimeUnknownError
from opso.domain.recording_info import RecordingInfo
from opso.domain.recording_span import RecordingSpan, aware_moment

T0 = datetime(2021, 9, 24, 6, 52, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


def _info(start: datetime | None = T0) -> RecordingInfo:
    return RecordingInfo(start=start, device_id="AM1", sources={"start": "audiomoth-comment"})


def test_aware_moment_takes_datetimes_timestamps_and_text_with_a_zone() -> None:
    assert aware_moment("2021-09-24T08:52:00+02:00") == T0
    assert aware_moment(pd.Timestamp("2021-09-24 06:52", tz="UTC")) == T0
    with pytest.raises(ParameterError, match=r"start_timestamp 2021-09-24T06:52:00 has no time"):
        aware_moment(datetime(2021, 9, 24, 6, 52))
    with pytest.raises(ParameterError, match="end 'noon' is not an ISO 8601 date-time"):
        aware_moment("noon", name="end")
    with pytest.raises(ParameterError, match="must be a datetime or ISO 8601 text, got 12"):
        aware_moment(12)  # type: ignore[arg-type]


def test_a_span_places_moments_in_any_zone_and_names_the_file_when_outside() -> None:
    span = RecordingSpan(Path("a.wav"), T0, 60.0)
    assert span.end == T0 + timedelta(minutes=1)
    assert span.offset_of(datetime(2021, 9, 24, 8, 52, 30, tzinfo=PLUS2)) == 30.0
    assert span.offset_of(T0) == 0.0
    with pytest.raises(ParameterError) as caught:
        span.offset_of(T0 + timedelta(seconds=60))
    assert str(caught.value) == (
        "a.wav: covers 2021-09-24T06:52:00+00:00 to 2021-09-24T06:53:00+00:00 (60.000 s); "
        "2021-09-24T06:53:00+00:00 is outside it"
    )
    with pytest.raises(ParameterError, match="is outside it"):
        span.offset_of(T0 - timedelta(microseconds=1))
    assert span.overlap(T0 - timedelta(seconds=5), T0 + timedelta(seconds=10)) == (0.0, 10.0)
    assert span.overlap(T0 + timedelta(seconds=50), T0 + timedelta(hours=1)) == (50.0, 60.0)
    assert span.overlap(T0 + timedelta(seconds=60), T0 + timedelta(hours=1)) is None


def test_audio_keeps_its_start_time_through_trim_split_and_pickle() -> None:
    audio = Audio(np.arange(100.0), 10, metadata=_info())
    assert audio.start_timestamp == T0
    assert audio.trim(2.5, 5).start_timestamp == T0 + timedelta(seconds=2.5)
    assert audio.trim(-3, 5).start_timestamp == T0  # clamped to the first sample
    starts = [c["audio"].start_timestamp for c in audio.split(4, final_clip="remainder")]
    assert starts == [T0 + timedelta(seconds=s) for s in (0, 4, 8)]
    clip = audio.split(3)[1]["audio"]
    assert clip.metadata is not None and clip.metadata.device_id == "AM1"
    assert clip.extend(5).start_timestamp == T0 + timedelta(seconds=3)
    again = pickle.loads(pickle.dumps(clip))
    assert again.start_timestamp == clip.start_timestamp and again.metadata == clip.metadata
    assert copy.deepcopy(clip.metadata) == clip.metadata
    assert Audio(np.zeros(4), 2).start_timestamp is None
    assert Audio(np.zeros(4), 2, metadata=RecordingInfo()).trim(1, 2).start_timestamp is None
    with pytest.raises(ParameterError, match="metadata must be a RecordingInfo"):
        Audio(np.zeros(4), 2, metadata={"start": T0})  # type: ignore[arg-type]


def _store() -> tuple[InMemoryAudioIO, InMemoryMetadataReader]:
    ramp = np.arange(1000.0) / 1000
    io = InMemoryAudioIO(
        {
            Path("/r/a.wav"): Audio(ramp, 100),  # 10 s from T0
            Path("/r/b.wav"): Audio(ramp, 100),  # 10 s from T0 + 8 s, written in UTC+2
            Path("/r/site_20210924_065230.wav"): Audio(ramp[:500], 100),  # named: 5 s from 06:52:30
            Path("/r/c.wav"): Audio(ramp, 100),  # no start time
        }
    )
    b_start = (T0 + timedelta(seconds=8)).astimezone(PLUS2)
    meta = InMemoryMetadataReader({Path("/r/a.wav"): _info(), Path("/r/b.wav"): _info(b_start)})
    return io, meta


def test_read_at_time_reads_from_the_moment_with_the_start_of_its_first_sample() -> None:
    io, meta = _store()
    read = ReadAtTime(io, meta)
    audio = read.run(path=Path("/r/b.wav"), start_timestamp=T0 + timedelta(seconds=9), duration=2)
    np.testing.assert_allclose(audio.samples, np.arange(100, 300) / 1000, atol=1e-7)
    assert audio.start_timestamp == T0 + timedelta(seconds=9)
    assert audio.metadata is not None and audio.metadata.device_id == "AM1"
    by_offset = read.run(path=Path("/r/a.wav"), offset=2.5, duration=1)
    assert by_offset.start_timestamp == T0 + timedelta(seconds=2.5)
    named = read.run(
        path=Path("/r/site_20210924_065230.wav"), start_timestamp="2021-09-24T06:52:31Z"
    )
    assert named.duration() == 4.0 and named.start_timestamp == T0 + timedelta(seconds=31)
    assert read.run(path=Path("/r/c.wav")).start_timestamp is None


def test_read_at_time_refuses_what_it_cannot_place() -> None:
    io, meta = _store()
    read = ReadAtTime(io, meta)
    with pytest.raises(ParameterError, match=r"/r/a\.wav: covers .* \(10\.000 s\); .* outside it"):
        read.run(path=Path("/r/a.wav"), start_timestamp=T0 + timedelta(seconds=10))
    with pytest.raises(StartTimeUnknownError, match=r"/r/c\.wav: start time unknown \(no metadata"):
        read.run(path=Path("/r/c.wav"), start_timestamp=T0)
    with pytest.raises(ParameterError, match="start_timestamp or offset, not both"):
        read.run(path=Path("/r/a.wav"), start_timestamp=T0, offset=1.0)
    with pytest.raises(ParameterError, match="has no time zone"):
        read.run(path=Path("/r/a.wav"), start_timestamp=datetime(2021, 9, 24, 6, 52))
    with pytest.raises(FileNotFoundError):
        read.run(path=Path("/r/missing.wav"), start_timestamp=T0)


def test_find_recordings_lists_who_covers_a_range_and_who_cannot_say() -> None:
    io, meta = _store()
    io.files[Path("/r/empty.wav")] = Audio(np.zeros(0), 100)
    found = FindRecordings(io, meta)
    report = found.run(
        recordings=list(io.files), start=T0 + timedelta(seconds=9), end="2021-09-24T06:52:32Z"
    )
    rows = [(c.path.name, c.start_time, c.end_time) for c in report.covering]
    assert rows == [
        ("a.wav", 9.0, 10.0),
        ("b.wav", 1.0, 10.0),
        ("site_20210924_065230.wav", 0.0, 2.0),
    ]
    assert report.covering[1].recording_start.utcoffset() == timedelta(hours=2)
    assert report.covering[1].recording_end == T0 + timedelta(seconds=18)
    assert report.unknown_start == [Path("/r/c.wav")]
    assert [(f.source.name, f.reason) for f in report.failures] == [
        ("empty.wav", "/r/empty.wav: holds no audio frames")
    ]
    nothing = found.run(recordings=list(io.files), start=T0 - timedelta(hours=2), end=T0)
    assert nothing.covering == []
    with pytest.raises(ParameterError, match="must be after start"):
        found.run(recordings=list(io.files), start=T0, end=T0)
