"""The simulator's pure parts: pacing, flights, vehicles and images."""

from __future__ import annotations

import random
import struct
import zlib
from datetime import UTC, datetime

import pytest

from prestacop.domain.codec import encode_checked
from prestacop.domain.events import HUMAN_REVIEW_CODE, ViolationReported
from prestacop.domain.violation_codes import code_table
from prestacop.simulator.flight import LAND_BELOW_PCT, RESUME_ABOVE_PCT, Flight
from prestacop.simulator.images import vehicle_png
from prestacop.simulator.schedule import Ticker
from prestacop.simulator.sightings import Sighting, sight
from prestacop.simulator.streets import Point, distance_m, nyc_streets
from prestacop.simulator.vehicles import CAMERA_CODES, random_code, random_vehicle


class FakeTime:
    """A clock whose sleeps always overrun by ``overrun`` seconds (as real sleeps do)."""

    def __init__(self, overrun: float = 0.0) -> None:
        self.now = 100.0
        self.overrun = overrun

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.overrun


async def run_ticker(ticker: Ticker, fake: FakeTime, seconds: float, work: float = 0.0) -> int:
    end = fake.now + seconds
    total = 0
    while fake.now < end:
        total += await ticker.due()
        fake.now += work
    return total


async def test_the_ticker_keeps_its_rate_when_sleeps_overrun() -> None:
    fake = FakeTime(overrun=0.003)
    ticker = Ticker(100.0, clock=fake.clock, sleep=fake.sleep)
    ticks = await run_ticker(ticker, fake, 10.0)
    assert abs(ticks - 1000) <= 2  # a sleep-after-send loop would give ~770


async def test_a_late_ticker_hands_out_the_due_ticks_at_once_and_shows_its_lag() -> None:
    fake = FakeTime()
    ticker = Ticker(1000.0, clock=fake.clock, sleep=fake.sleep, max_batch=50)
    ticks = await run_ticker(ticker, fake, 5.0, work=0.02)  # each batch costs 20 ms
    assert ticks == pytest.approx(5000, abs=60)
    assert ticker.lag_s < 0.05


def test_a_ticker_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        Ticker(0.0)


def test_the_street_segments_are_in_new_york() -> None:
    streets = nyc_streets()
    assert len(streets) >= 20
    for street in streets:
        for p in (street.start, street.end):
            assert 40.49 < p.lat < 40.92 and -74.26 < p.lon < -73.70, street
        assert 300 < street.length_m < 8000, street


def test_a_patrolling_drone_stays_on_its_street() -> None:
    flight = Flight(random.Random(7), nyc_streets(), battery_pct=100.0)
    for _ in range(600):
        reading = flight.step(1.0)
        if reading.mode == "patrol":
            assert reading.street is not None
            s = reading.street
            # on the segment: the two partial distances add up to the whole
            detour = distance_m(s.start, reading.position) + distance_m(reading.position, s.end)
            assert detour == pytest.approx(s.length_m, abs=1.0)
            assert 0.0 <= reading.heading_deg < 360.0


def test_a_drone_moves_at_its_speed() -> None:
    flight = Flight(random.Random(3), nyc_streets(), battery_pct=100.0)
    before = flight.step(0.0).position
    after = flight.step(1.0)
    moved = distance_m(Point(before.lat, before.lon), after.position)
    assert moved <= after.speed_mps + 0.01


def test_a_drone_lands_on_a_low_battery_and_flies_again_when_charged() -> None:
    flight = Flight(random.Random(1), nyc_streets(), battery_pct=LAND_BELOW_PCT + 1.0)
    modes = [flight.step(1.0) for _ in range(400)]
    landed = [r for r in modes if r.mode == "charging"]
    assert landed and all(r.speed_mps == 0.0 and r.altitude_m == 0.0 for r in landed)
    assert max(r.battery_pct for r in landed) >= RESUME_ABOVE_PCT - 1
    assert modes[-1].mode != "charging"


def test_the_same_seed_flies_the_same_route() -> None:
    def route(seed: int) -> list[Point]:
        flight = Flight(random.Random(seed), nyc_streets())
        return [flight.step(0.5).position for _ in range(200)]

    assert route(42) == route(42)
    assert route(42) != route(43)


def test_vehicles_are_plausible() -> None:
    rng = random.Random(5)
    vehicles = [random_vehicle(rng) for _ in range(2000)]
    states = [v.plate_state for v in vehicles]
    assert 0.7 < states.count("NY") / len(states) < 0.86
    for v in vehicles:
        assert 5 <= len(v.plate) <= 8 and v.plate.isalnum() and v.plate.isupper()
        assert v.plate_type in ("PAS", "COM", "OMT")
    assert all(v.color == "YELLOW" for v in vehicles if v.plate_type == "OMT")


def test_violation_codes_come_from_the_table_and_are_never_camera_or_review_codes() -> None:
    rng = random.Random(9)
    codes = [random_code(rng) for _ in range(3000)]
    assert set(codes) <= set(code_table())
    assert HUMAN_REVIEW_CODE not in codes and not set(codes) & set(CAMERA_CODES)
    assert codes.count(21) > codes.count(46) > codes.count(74)  # the common ones first


def png_chunks(data: bytes) -> dict[bytes, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = {}, 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks[kind] = body
        pos += 12 + length
    return chunks


def test_a_violation_image_is_a_small_valid_png_that_shows_the_plate() -> None:
    data = vehicle_png("ABC1234", "RED", random.Random(1))
    chunks = png_chunks(data)
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (width, height, depth, colour) == (160, 100, 8, 3)
    rows = zlib.decompress(chunks[b"IDAT"])
    assert len(rows) == height * (width + 1)
    assert len(data) < 20_000
    ink = 8  # palette index of the plate's letters
    assert rows.count(bytes([ink])) > 100
    assert vehicle_png("XYZ9876", "RED", random.Random(1)) != data


def sightings(seed: int) -> list[Sighting]:
    rng = random.Random(seed)
    flight = Flight(random.Random(seed), nyc_streets(), battery_pct=100.0)
    ids = iter(range(10_000))
    now = datetime(2025, 1, 15, 14, 0, tzinfo=UTC)
    seen = []
    while len(seen) < 300:
        reading = flight.step(1.0)
        if reading.mode == "patrol":
            seen.append(
                sight(rng, reading, review_ratio=0.01, now=now, new_id=lambda: f"id{next(ids)}")
            )
    return seen


def test_the_same_seed_sees_the_same_violations() -> None:
    first, again = sightings(7), sightings(7)
    assert [(s.code, s.details["plate"], s.image) for s in first] == [
        (s.code, s.details["plate"], s.image) for s in again
    ]
    assert [s.details["plate"] for s in sightings(8)] != [s.details["plate"] for s in first]


def test_about_one_violation_in_a_hundred_asks_for_human_review() -> None:
    seen = [s for seed in range(10) for s in sightings(seed)]  # 3000 sightings
    reviews = [s for s in seen if s.needs_review]
    assert 0.004 < len(reviews) / len(seen) < 0.02
    assert all(s.details["confidence"] < 0.6 for s in reviews)
    assert all(s.details["confidence"] >= 0.7 for s in seen if not s.needs_review)


def test_a_sighting_is_on_the_patrolled_street_and_a_valid_violation() -> None:
    for s in sightings(3)[:50]:
        event = ViolationReported(
            drone_id="sim-000",
            latitude=s.latitude,
            longitude=s.longitude,
            violation_code=s.code,
            **{k: v for k, v in s.details.items() if k != "image_content_type"},
        )
        subject, _ = encode_checked("nypd", event, s.details["time"])
        assert subject.endswith(".review.sim-000" if s.needs_review else ".violation")
        spot = Point(s.latitude, s.longitude)
        assert any(  # within a few metres of a segment of the street it names
            t.name == s.details["street"]
            and t.precinct == s.details["precinct"]
            and distance_m(t.start, spot) + distance_m(spot, t.end) - t.length_m < 30.0
            for t in nyc_streets()
        )
