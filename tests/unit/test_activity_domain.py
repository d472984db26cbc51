"""Activity counting over a synthetic week of detections whose counts are known."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from opso.domain.activity import Activity, Recordings, common_zone, groupings, zone_label
from opso.domain.errors import ParameterError

DAYS = [np.datetime64("2021-05-03") + k for k in range(7)]
SITES = ("north", "south")
SPECIES = ("robin", "owl")
UNTIMED_ROBINS_SOUTH = 5


def _at(day: int, hour: int, minute: int) -> np.datetime64:
    return np.datetime64(f"{DAYS[day]}T{hour:02d}:{minute:02d}", "ms")


def _week() -> Activity:
    """Seven days at two sites, recorded 04:00-08:00 daily (north also 20:00-22:00).

    robin, north: d + (h - 4) + 1 detections in hour h (4..7) of day d (0..6)
    robin, south: one in hours 5 and 6 of each day, and 5 from a recording of unknown start
    owl, north: three in hours 20 and 21 of each day
    """
    species: list[int] = []
    site: list[int] = []
    time: list[np.datetime64] = []

    def add(s: int, where: int, moment: np.datetime64) -> None:
        species.append(s)
        site.append(where)
        time.append(moment)

    for d in range(7):
        for h in range(4, 8):
            for k in range(d + h - 3):
                add(0, 0, _at(d, h, k))
        for h in (5, 6):
            add(0, 1, _at(d, h, 30))
        for h in (20, 21):
            for k in range(3):
                add(1, 0, _at(d, h, 10 * k))
    for _ in range(UNTIMED_ROBINS_SOUTH):
        add(0, 1, np.datetime64("NaT", "ms"))
    rec_site = [0, 1, 0] * 7
    rec_start = [_at(d, h, 0) for d in range(7) for h in (4, 4, 20)]
    rec_seconds = [4 * 3600.0, 4 * 3600.0, 2 * 3600.0] * 7
    return Activity(
        species_names=SPECIES,
        site_names=SITES,
        species=np.array(species),
        site=np.array(site),
        time=np.array(time, dtype="datetime64[ms]"),
        recordings=Recordings(
            site=np.array(rec_site),
            start=np.array(rec_start, dtype="datetime64[ms]"),
            seconds=np.array(rec_seconds),
        ),
    )


def _robin_north(d: int, h: int) -> int:
    return d + h - 3 if 4 <= h <= 7 else 0


def test_week_by_day_counts_each_species_per_date_with_minutes_recorded() -> None:
    counts = _week().counts(["day"])
    rows = counts.rows(zone="UTC")
    assert counts.columns == (
        "species",
        "date",
        "timezone",
        "detections",
        "recording_minutes",
        "detections_per_hour",
    )
    assert len(rows) == 14  # two species x seven dates
    robin = {r["date"]: r for r in rows if r["species"] == "robin"}
    owl = {r["date"]: r for r in rows if r["species"] == "owl"}
    for d in range(7):
        date = str(DAYS[d])
        assert robin[date]["detections"] == (4 * d + 10) + 2
        assert owl[date]["detections"] == 6
        assert robin[date]["recording_minutes"] == 600.0  # 6 h north + 4 h south
        assert robin[date]["detections_per_hour"] == pytest.approx((4 * d + 12) / 10, abs=1e-4)
        assert robin[date]["timezone"] == "UTC"


def test_week_by_site_counts_untimed_detections_too() -> None:
    rows = _week().counts(["site"]).rows(zone="UTC")
    table = {(r["species"], r["site"]): r for r in rows}
    assert table["robin", "north"]["detections"] == sum(4 * d + 10 for d in range(7)) == 154
    assert table["robin", "south"]["detections"] == 14 + UNTIMED_ROBINS_SOUTH
    assert table["owl", "north"]["detections"] == 42
    assert table["owl", "south"]["detections"] == 0  # recorded there: a true zero
    assert table["owl", "south"]["detections_per_hour"] == 0.0
    assert table["robin", "north"]["recording_minutes"] == 7 * 6 * 60
    assert table["robin", "south"]["recording_minutes"] == 7 * 4 * 60
    assert "date" not in table["robin", "north"]


def test_week_by_site_and_hour_has_a_row_per_recorded_hour() -> None:
    counts = _week().counts(["hour", "site"])
    rows = counts.rows(zone="UTC+01:00")
    assert counts.columns[:5] == ("species", "site", "date", "hour", "timezone")
    # north: 6 recorded hours a day, south: 4; both species
    assert len(rows) == 2 * 7 * (6 + 4)
    table = {(r["species"], r["site"], r["date"], r["hour"]): r for r in rows}
    for d in range(7):
        date = str(DAYS[d])
        for h in (4, 5, 6, 7, 20, 21):
            row = table["robin", "north", date, h]
            assert row["detections"] == _robin_north(d, h)
            assert row["recording_minutes"] == 60.0
            assert row["detections_per_hour"] == float(_robin_north(d, h))
        assert table["owl", "north", date, 20]["detections"] == 3
        assert table["robin", "south", date, 5]["detections"] == 1
        assert table["robin", "south", date, 4]["detections"] == 0
        assert ("robin", "south", date, 20) not in table  # never recorded there


def test_week_hours_of_day_and_date_hour_grid() -> None:
    week = _week()
    hours = week.hours_of_day()
    assert hours.shape == (2, 24)
    for h in range(24):
        south = 7 if h in (5, 6) else 0
        assert hours[0, h] == sum(_robin_north(d, h) for d in range(7)) + south
        assert hours[1, h] == (21 if h in (20, 21) else 0)
    assert hours.sum() == 154 + 14 + 42  # untimed detections are not on the clock
    recorded = week.recorded_by_hour_of_day()
    assert recorded is not None
    np.testing.assert_array_equal(
        np.flatnonzero(recorded), [4, 5, 6, 7, 20, 21]
    )  # hours with recording
    assert recorded[4] == 7 * 2 * 3600  # both sites, every day
    grid = week.date_hour()
    assert [str(d) for d in grid.dates] == [str(d) for d in DAYS]
    assert grid.counts.shape == (2, 7, 24)
    assert grid.counts[0, 2, 5] == _robin_north(2, 5) + 1
    assert grid.recorded_s is not None
    assert grid.recorded_s[3, 20] == 3600 and grid.recorded_s[3, 12] == 0


def test_recordings_are_spread_over_the_hours_and_days_they_cover() -> None:
    start = np.array(["2021-05-02T23:30"], dtype="datetime64[ms]")
    rec = Recordings(site=np.array([0]), start=start, seconds=np.array([7200.0]))
    _, bins, seconds = rec.spread("h")
    assert [str(b) for b in bins.astype("datetime64[h]")] == [
        "2021-05-02T23",
        "2021-05-03T00",
        "2021-05-03T01",
    ]
    np.testing.assert_allclose(seconds, [1800, 3600, 1800])
    _, days, per_day = rec.spread("D")
    assert [str(d) for d in days.astype("datetime64[D]")] == ["2021-05-02", "2021-05-03"]
    np.testing.assert_allclose(per_day, [1800, 5400])


def test_a_detection_outside_any_recording_gets_a_bin_without_a_rate() -> None:
    activity = Activity(
        species_names=("owl",),
        site_names=("a",),
        species=np.array([0]),
        site=np.array([0]),
        time=np.array(["2021-05-02T23:15"], dtype="datetime64[ms]"),
        recordings=Recordings(
            site=np.array([0]),
            start=np.array(["2021-05-02T04:00"], dtype="datetime64[ms]"),
            seconds=np.array([600.0]),
        ),
    )
    rows = activity.counts(["hour"]).rows(zone="UTC")
    assert [(r["hour"], r["detections"], r["recording_minutes"]) for r in rows] == [
        (4, 0, 10.0),
        (23, 1, 0.0),
    ]
    assert rows[1]["detections_per_hour"] == ""


def test_without_effort_the_minutes_are_empty_and_only_detected_bins_appear() -> None:
    activity = Activity(
        species_names=("a", "b"),
        site_names=("s",),
        species=np.array([0, 0, 1]),
        site=np.array([0, 0, 0]),
        time=np.array(
            ["2021-05-02T04:10", "2021-05-03T04:20", "2021-05-03T05:00"], dtype="datetime64[ms]"
        ),
    )
    rows = activity.counts(["day"]).rows(zone="UTC")
    assert [(r["species"], r["date"], r["detections"]) for r in rows] == [
        ("a", "2021-05-02", 1),
        ("a", "2021-05-03", 1),
        ("b", "2021-05-02", 0),
        ("b", "2021-05-03", 1),
    ]
    assert {r["recording_minutes"] for r in rows} == {""}
    assert activity.recorded_by_hour_of_day() is None
    assert activity.date_hour().recorded_s is None


@pytest.mark.parametrize(
    ("by", "message"),
    [
        ([], "at least one grouping"),
        (["week"], "unknown grouping 'week'"),
        (["hour", "day"], "hour or by day, not both"),
    ],
)
def test_bad_groupings_are_parameter_errors(by: list[str], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        groupings(by)


def test_groupings_are_put_in_table_order() -> None:
    assert groupings(["hour", "site", "hour"]) == ("site", "hour")


def test_indices_out_of_range_are_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="species index out of range"):
        Activity(("a",), ("s",), np.array([1]), np.array([0]), np.array(["NaT"], "datetime64[ms]"))
    with pytest.raises(ParameterError, match="recording lengths"):
        Recordings(np.array([0]), np.array(["NaT"], "datetime64[ms]"), np.array([-1.0]))


def test_zone_labels() -> None:
    assert zone_label(UTC) == "UTC"
    assert zone_label(ZoneInfo("Europe/London")) == "Europe/London"
    assert zone_label(timezone(timedelta(hours=-5, minutes=-30))) == "UTC-05:30"
    assert zone_label(timezone(timedelta(hours=2))) == "UTC+02:00"


def test_common_zone_takes_the_most_common_offset_and_states_the_conversion() -> None:
    one, two = timedelta(hours=1), timedelta(hours=2)
    assert common_zone([one, one]) == (timezone(one), None)
    assert common_zone([]) == (UTC, None)
    zone, note = common_zone([two, one, one])
    assert zone == timezone(one)
    assert note is not None
    assert "UTC+01:00 (2), UTC+02:00 (1)" in note and "converted to UTC+01:00" in note
    assert common_zone([two, one])[0] == timezone(two)  # a tie: the first recording's
