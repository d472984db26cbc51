"""When, where and with what a recording was made, and the pure parsers that read it from text.

A :class:`RecordingInfo` holds what a recorder wrote about a file: its start time (always with a
time zone), device, gain, battery, temperature and position, and for each field the *source* it
came from (``audiomoth-comment``, ``opso-metadata``, ``guano``, ``file-name``). Parsers here turn
text (a RIFF comment, a JSON blob, a file name) into a :class:`RecordingInfo`; reading the bytes
of a file is an adapter's job (:mod:`opso.adapters.audio_metadata`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opso.domain.errors import ParameterError

#: Names of the fields a source can fill, in display order.
FIELDS = (
    "start",
    "device_id",
    "model",
    "firmware",
    "gain",
    "battery_v",
    "temperature_c",
    "latitude",
    "longitude",
)

AUDIOMOTH_COMMENT = "audiomoth-comment"
OPSO_METADATA = "opso-metadata"
GUANO = "guano"
FILE_NAME = "file-name"


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """What a recording's metadata says about it; every field is None when unknown.

    Parameters
    ----------
    start
        When the first sample was recorded, time-zone aware.
    device_id
        The recorder's identity as it writes it (``AudioMoth 247AA5075E06337D``, a serial).
    model, firmware
        Recorder make/model and firmware version text.
    gain
        Gain setting as the recorder names it (``2``, ``medium``).
    battery_v
        Battery voltage in V when the recording started.
    temperature_c
        Temperature in degrees Celsius.
    latitude, longitude
        Position in decimal degrees (WGS 84).
    sources
        For each known field, the name of the source it came from.
    warnings
        What could not be read or did not agree, one sentence each (naming the field).

    Raises
    ------
    ParameterError
        If ``start`` has no time zone, a position is out of range or a source names no field.
    """

    start: datetime | None = None
    device_id: str | None = None
    model: str | None = None
    firmware: str | None = None
    gain: str | None = None
    battery_v: float | None = None
    temperature_c: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.start is not None and self.start.utcoffset() is None:
            raise ParameterError(f"start time {self.start.isoformat()} has no time zone")
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            raise ParameterError(f"latitude {self.latitude} is outside -90..90 degrees")
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            raise ParameterError(f"longitude {self.longitude} is outside -180..180 degrees")
        unknown = sorted(set(self.sources) - set(FIELDS))
        if unknown:
            raise ParameterError(f"sources name unknown fields: {', '.join(unknown)}")
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    def __reduce__(self) -> tuple[type[RecordingInfo], tuple[Any, ...]]:
        # pickle and copy rebuild it from its fields (a mappingproxy itself cannot be pickled)
        values = tuple(getattr(self, name) for name in FIELDS)
        return type(self), (*values, dict(self.sources), self.warnings)

    def start_at(self, offset_s: float) -> datetime | None:
        """Return the moment ``offset_s`` s into the recording (None if the start is unknown)."""
        if self.start is None:
            return None
        return self.start + timedelta(seconds=offset_s)

    def moved(self, offset_s: float) -> RecordingInfo:
        """Return this info for a part of the recording that begins ``offset_s`` s into it."""
        if self.start is None or not offset_s:
            return self
        return replace(self, start=self.start + timedelta(seconds=offset_s))

    def values(self) -> dict[str, Any]:
        """Return ``{field: value}`` for every field in :data:`FIELDS` (None when unknown)."""
        return {name: getattr(self, name) for name in FIELDS}

    def merged(self, other: RecordingInfo) -> RecordingInfo:
        """Fill this info's unknown fields from ``other`` (this one wins where both know a field).

        A start time that ``other`` gives differently (by more than a millisecond) is noted in
        ``warnings``; the warnings of both are kept.
        """
        filled: dict[str, Any] = {}
        sources = dict(self.sources)
        for name in FIELDS:
            if getattr(self, name) is None and getattr(other, name) is not None:
                filled[name] = getattr(other, name)
                sources[name] = other.sources.get(name, "unknown")
        notes = list(self.warnings) + [w for w in other.warnings if w not in self.warnings]
        if (
            self.start is not None
            and other.start is not None
            and abs((self.start - other.start).total_seconds()) > 1e-3
        ):
            notes.append(
                f"start: {self.sources.get('start')} says {self.start.isoformat()}, "
                f"{other.sources.get('start')} says {other.start.isoformat()}; "
                f"using {self.sources.get('start')}"
            )
        return replace(self, **filled, sources=sources, warnings=tuple(notes))


def _with_source(source: str, warnings: list[str], **values: Any) -> RecordingInfo:
    """Build a RecordingInfo from the known ``values``, all attributed to ``source``."""
    known = {k: v for k, v in values.items() if v is not None}
    return RecordingInfo(**known, sources=dict.fromkeys(known, source), warnings=tuple(warnings))


def parse_timezone(name: str) -> tzinfo:
    """Return the IANA time zone ``name`` (``Europe/London``, ``UTC``).

    Raises
    ------
    ParameterError
        If no such time zone is known.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ParameterError(
            f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/London)"
        ) from e


def localize(moment: datetime, zone: tzinfo | None) -> datetime:
    """Attach ``zone`` (UTC when None) to a naive ``moment``; an aware one is returned as is."""
    if moment.utcoffset() is not None:
        return moment
    return moment.replace(tzinfo=zone or UTC)


# --- AudioMoth comments ------------------------------------------------------------------------

_AM_START = re.compile(
    r"Recorded at (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? (\d{1,2})/(\d{1,2})/(\d{4}) "
    r"\(UTC(?:([+-])(\d{1,2})(?::?(\d{2}))?)?\)"
)
_AM_DEVICE = re.compile(r"\bby (AudioMoth(?:[- ]\w+)*? [0-9A-Fa-f]{16})\b")
_AM_GAIN = re.compile(
    r"\bat gain setting (\d)"
    r"|\bat (low|low-medium|lowmedium|medium|medium-high|mediumhigh|high) gain"
)
_AM_BATTERY = re.compile(r"\bbattery (?:state )?was (?:(less|greater) than )?(\d+(?:\.\d+)?) ?V")
_AM_TEMPERATURE = re.compile(r"\btemperature was (-?\d+(?:\.\d+)?) ?C")


def parse_audiomoth_comment(comment: str) -> RecordingInfo:
    """Read an AudioMoth comment (``Recorded at 04:00:00 02/05/2021 (UTC) by AudioMoth ...``).

    Both firmware styles are read: ``at gain setting 2 while battery state was 4.2V`` and
    ``at medium gain while battery was 3.8V and temperature was 12.8C``, with time zones such
    as ``(UTC)``, ``(UTC+1)`` or ``(UTC-5:30)``. A battery given as ``less than 2.5V`` or
    ``greater than 4.9V`` is read as that bound, with a warning.

    Returns
    -------
    RecordingInfo
        The fields found, each from ``audiomoth-comment``; empty for a comment that is not
        AudioMoth's. An impossible date gives no start and a warning.
    """
    if "AudioMoth" not in comment or "Recorded at" not in comment:
        return RecordingInfo()
    warnings: list[str] = []
    start = None
    if m := _AM_START.search(comment):
        hh, mm, ss, frac, day, month, year, sign, oh, om = m.groups()
        offset = timedelta(hours=int(oh or 0), minutes=int(om or 0))
        zone = timezone(-offset if sign == "-" else offset) if offset else UTC
        try:
            start = datetime(
                int(year),
                int(month),
                int(day),
                int(hh),
                int(mm),
                int(ss),
                int((frac or "0").ljust(6, "0")),
                tzinfo=zone,
            )
        except ValueError as e:
            warnings.append(f"start: AudioMoth comment has an impossible time {m.group(0)!r} ({e})")
    else:
        warnings.append("start: AudioMoth comment has no readable 'Recorded at' time")
    device = m.group(1) if (m := _AM_DEVICE.search(comment)) else None
    gain = (m.group(1) or m.group(2)) if (m := _AM_GAIN.search(comment)) else None
    battery = None
    if m := _AM_BATTERY.search(comment):
        battery = float(m.group(2))
        if m.group(1):
            warnings.append(f"battery_v: AudioMoth says {m.group(1)} than {m.group(2)} V")
    temperature = float(m.group(1)) if (m := _AM_TEMPERATURE.search(comment)) else None
    return _with_source(
        AUDIOMOTH_COMMENT,
        warnings,
        start=start,
        device_id=device,
        model="AudioMoth",
        gain=gain,
        battery_v=battery,
        temperature_c=temperature,
    )


# --- OpenSoundscape's opso_metadata{json} comment --------------------------------------------

OPSO_METADATA_PREFIX = "opso_metadata"
#: The column of a table that gives the moment a row's window begins (ISO 8601 with its UTC
#: offset), in every table opso writes about clips of recordings whose start is known.
BEGIN_DATETIME = "begin_datetime"


def _number(value: Any) -> float | None:
    """Return ``value`` as a float, or None if it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def parse_opso_metadata(comment: str, *, zone: tzinfo | None = None) -> RecordingInfo:
    """Read OpenSoundscape's ``opso_metadata{...}`` comment (OpenSoundscape >= 0.10).

    Its ``recording_start_time``, ``device_id``, ``gain_setting``, ``battery_state``,
    ``temperature_C``, ``latitude`` and ``longitude`` keys are read; where the JSON lacks a
    field its ``comment`` key (an AudioMoth comment) fills it. A naive start time is taken in
    ``zone`` (UTC when None).

    Returns
    -------
    RecordingInfo
        The fields found, each from ``opso-metadata``; empty (with a warning) when the JSON
        cannot be parsed, empty without one for a comment that is not ``opso_metadata``.
    """
    if not comment.startswith(OPSO_METADATA_PREFIX):
        return RecordingInfo()
    try:
        data = json.loads(comment[len(OPSO_METADATA_PREFIX) :])
    except json.JSONDecodeError as e:
        return RecordingInfo(warnings=(f"opso_metadata comment is not valid JSON ({e})",))
    if not isinstance(data, dict):
        return RecordingInfo(warnings=("opso_metadata comment is not a JSON object",))
    warnings: list[str] = []
    start = None
    if (text := data.get("recording_start_time")) is not None:
        try:
            start = localize(datetime.fromisoformat(str(text)), zone)
        except ValueError:
            warnings.append(f"start: opso_metadata recording_start_time {text!r} is not a time")
    latitude, longitude = _number(data.get("latitude")), _number(data.get("longitude"))
    if latitude is not None and not -90 <= latitude <= 90:
        warnings.append(f"latitude: opso_metadata latitude {latitude} is out of range")
        latitude = None
    if longitude is not None and not -180 <= longitude <= 180:
        warnings.append(f"longitude: opso_metadata longitude {longitude} is out of range")
        longitude = None
    gain = data.get("gain_setting")
    own = _with_source(
        OPSO_METADATA,
        warnings,
        start=start,
        device_id=str(data["device_id"]) if data.get("device_id") else None,
        gain=None if gain is None else str(gain),
        battery_v=_number(data.get("battery_state")),
        temperature_c=_number(data.get("temperature_C")),
        latitude=latitude,
        longitude=longitude,
    )
    inner = parse_audiomoth_comment(str(data.get("comment") or ""))
    inner_sources = dict.fromkeys(inner.sources, OPSO_METADATA)
    return own.merged(replace(inner, sources=inner_sources))


def opso_metadata_comment(info: RecordingInfo) -> str | None:
    """Return the ``opso_metadata{...}`` comment that :func:`parse_opso_metadata` reads back.

    It holds the start time (ISO 8601 with its UTC offset), device id, gain, battery,
    temperature and position that ``info`` knows; None when it knows none of them. Clips that
    opso writes carry it with their own start time, so ``opso info`` places them in time.
    """
    data: dict[str, object] = {}
    if info.start is not None:
        data["recording_start_time"] = info.start.isoformat()
    named = {
        "device_id": info.device_id,
        "gain_setting": info.gain,
        "battery_state": info.battery_v,
        "temperature_C": info.temperature_c,
        "latitude": info.latitude,
        "longitude": info.longitude,
    }
    data.update({k: v for k, v in named.items() if v is not None})
    return OPSO_METADATA_PREFIX + json.dumps(data) if data else None


# --- GUANO (bat detectors) -------------------------------------------------------------------


def guano_info(fields_: Mapping[str, Any], *, zone: tzinfo | None = None) -> RecordingInfo:
    """Build a RecordingInfo from parsed GUANO fields (``Timestamp``, ``Serial``, ...).

    ``fields_`` maps GUANO keys to values as the ``guano`` library coerces them (a datetime for
    ``Timestamp``, a ``(lat, lon)`` tuple for ``Loc Position``). A GUANO "local" timestamp
    (no offset) is taken in ``zone`` (UTC when None).
    """
    warnings: list[str] = []
    stamp = fields_.get("Timestamp")
    start = localize(stamp, zone) if isinstance(stamp, datetime) else None
    if stamp is not None and start is None:
        warnings.append(f"start: GUANO Timestamp {stamp!r} is not a time")
    latitude = longitude = None
    position = fields_.get("Loc Position")
    if isinstance(position, tuple) and len(position) == 2:
        lat, lon = _number(position[0]), _number(position[1])
        if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
            latitude, longitude = lat, lon
        else:
            warnings.append(f"latitude: GUANO Loc Position {position!r} is out of range")
    elif position is not None:
        warnings.append(f"latitude: GUANO Loc Position {position!r} is not 'LAT LON'")
    model = " ".join(str(fields_[k]) for k in ("Make", "Model") if fields_.get(k)) or None
    temperature = fields_.get("Temperature Ext", fields_.get("Temperature Int"))
    return _with_source(
        GUANO,
        warnings,
        start=start,
        device_id=str(fields_["Serial"]) if fields_.get("Serial") else None,
        model=model,
        firmware=str(fields_["Firmware Version"]) if fields_.get("Firmware Version") else None,
        temperature_c=_number(temperature),
        latitude=latitude,
        longitude=longitude,
    )


# --- file names ------------------------------------------------------------------------------

_NAME_STAMP = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})[_T-]?(\d{2})(\d{2})(\d{2})(?!\d)")
#: File-name years taken as dates; other 8-digit runs are more likely counters than dates.
NAME_YEARS = range(1970, 2200)


def parse_file_name(name: str, *, zone: tzinfo | None = None) -> RecordingInfo:
    """Read a start time from a file name (``20210502_040000.WAV``, ``SITE_20210502_040000.wav``).

    The first ``YYYYMMDD_HHMMSS`` (also ``YYYYMMDDTHHMMSS``, ``YYYYMMDD-HHMMSS``) in the name,
    with a year in 1970-2199, is the start, taken in ``zone`` (UTC when None: recorders such as
    AudioMoth name files in UTC unless set to local time).

    Returns
    -------
    RecordingInfo
        The start from ``file-name``; empty for a name without a timestamp, empty with a
        warning for an impossible one (``20210231_250000``).
    """
    for m in _NAME_STAMP.finditer(name):
        year, month, day, hh, mm, ss = map(int, m.groups())
        if year not in NAME_YEARS:
            continue
        try:
            start = datetime(year, month, day, hh, mm, ss, tzinfo=zone or UTC)
        except ValueError as e:
            return RecordingInfo(
                warnings=(f"start: file name has an impossible time {m.group(0)!r} ({e})",)
            )
        return _with_source(FILE_NAME, [], start=start)
    return RecordingInfo()


def combine(infos: list[RecordingInfo]) -> RecordingInfo:
    """Merge infos in order of trust: each field comes from the first info that knows it."""
    out = RecordingInfo()
    for info in infos:
        out = out.merged(info)
    return out


__all__ = [
    "FIELDS",
    "RecordingInfo",
    "combine",
    "guano_info",
    "localize",
    "parse_audiomoth_comment",
    "parse_file_name",
    "parse_opso_metadata",
    "parse_timezone",
]
