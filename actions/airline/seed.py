"""Demo data for the airline: a network, a few days of flights, bookings, bag reports.

Everything is generated relative to one day, so "tomorrow" and "today's
flight" mean something whenever the demo runs. ``python -m actions.airline.seed``
creates the tables and (re)generates the data when it was made for another day;
it is safe to run at every start.

The demo cases that README and the tests talk about are fixed:

========  =================================  =============================
record    who and what                       to try
========  =================================  =============================
QX7K2P    Jane Doe, NW881 ORD-LHR today      delayed over 3 hours
MRT4LQ    Sam Rivera, NW22 BOS-ORD today     cancelled, rebooking, refund
7HJK2L    Alex Kim, NW405 DEN-SFO tomorrow   flex fare, change the booking
B4GG9E    Priya Shah, NW1200 yesterday       bag report JFKNW10234
K9PLZ3    Chris Novak, NW610 yesterday       no bag report yet
========  =================================  =============================
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from actions.airline import db
from actions.airline.clock import utc_now
from actions.airline.models import (
    Airport,
    BaggageReport,
    BagStatus,
    Base,
    Booking,
    Fare,
    Flight,
    FlightStatus,
    SeedInfo,
    Segment,
)

SEED_VERSION = 1

AIRPORTS = [
    ("ORD", "Chicago", "Chicago O'Hare International", "America/Chicago"),
    ("BOS", "Boston", "Boston Logan International", "America/New_York"),
    ("DEN", "Denver", "Denver International", "America/Denver"),
    ("JFK", "New York", "John F. Kennedy International", "America/New_York"),
    ("LGA", "New York", "LaGuardia", "America/New_York"),
    ("SFO", "San Francisco", "San Francisco International", "America/Los_Angeles"),
    ("LAX", "Los Angeles", "Los Angeles International", "America/Los_Angeles"),
    ("SEA", "Seattle", "Seattle-Tacoma International", "America/Los_Angeles"),
    ("MIA", "Miami", "Miami International", "America/New_York"),
    ("ATL", "Atlanta", "Hartsfield-Jackson Atlanta International", "America/New_York"),
    ("YYZ", "Toronto", "Toronto Pearson International", "America/Toronto"),
    ("MEX", "Mexico City", "Mexico City International", "America/Mexico_City"),
    ("CUN", "Cancun", "Cancun International", "America/Cancun"),
    ("LHR", "London", "London Heathrow", "Europe/London"),
    ("CDG", "Paris", "Paris Charles de Gaulle", "Europe/Paris"),
    ("DUB", "Dublin", "Dublin Airport", "Europe/Dublin"),
    ("KEF", "Reykjavik", "Keflavik International", "Atlantic/Reykjavik"),
]


@dataclass(frozen=True)
class Route:
    """A daily flight: number, airports, local departure time, block time in minutes."""

    number: str
    origin: str
    destination: str
    departs: str
    minutes: int


SCHEDULE = [
    Route("NW22", "BOS", "ORD", "09:05", 165),
    Route("NW24", "BOS", "ORD", "13:20", 165),
    Route("NW26", "BOS", "ORD", "17:45", 165),
    Route("NW23", "ORD", "BOS", "07:10", 135),
    Route("NW25", "ORD", "BOS", "12:40", 135),
    Route("NW405", "DEN", "SFO", "15:10", 155),
    Route("NW407", "DEN", "SFO", "19:30", 155),
    Route("NW406", "SFO", "DEN", "08:00", 145),
    Route("NW610", "ORD", "DEN", "10:15", 165),
    Route("NW612", "ORD", "DEN", "16:50", 165),
    Route("NW611", "DEN", "ORD", "06:45", 150),
    Route("NW881", "ORD", "LHR", "18:30", 485),
    Route("NW880", "LHR", "ORD", "11:45", 540),
    Route("NW1200", "ORD", "JFK", "08:30", 130),
    Route("NW1202", "ORD", "JFK", "14:15", 130),
    Route("NW1201", "JFK", "ORD", "11:20", 155),
    Route("NW318", "LAX", "DEN", "07:55", 140),
    Route("NW319", "DEN", "LAX", "12:05", 150),
    Route("NW77", "DUB", "BOS", "10:40", 445),
    Route("NW76", "BOS", "DUB", "20:15", 395),
    Route("NW530", "ORD", "CUN", "09:40", 225),
    Route("NW531", "CUN", "ORD", "14:00", 240),
    Route("NW2034", "BOS", "KEF", "20:50", 310),
    Route("NW2035", "KEF", "BOS", "16:30", 345),
    Route("NW740", "ORD", "SEA", "11:00", 270),
    Route("NW741", "SEA", "ORD", "17:25", 240),
    Route("NW902", "DEN", "MEX", "09:20", 190),
    Route("NW903", "MEX", "DEN", "14:10", 195),
    Route("NW1150", "BOS", "MIA", "06:55", 205),
    Route("NW1151", "MIA", "BOS", "11:30", 200),
    Route("NW1460", "ORD", "YYZ", "13:05", 95),
    Route("NW1461", "YYZ", "ORD", "16:00", 110),
    Route("NW88", "ORD", "CDG", "17:55", 500),
    Route("NW89", "CDG", "ORD", "10:25", 545),
    Route("NW360", "ATL", "ORD", "08:15", 125),
    Route("NW361", "ORD", "ATL", "18:40", 120),
]

# Today's disruptions: (number, minutes late or None for cancelled, reason).
DISRUPTIONS = {
    "NW881": (185, "the late arrival of the aircraft from its previous flight"),
    "NW22": (None, "a technical issue with the aircraft"),
    "NW610": (50, "thunderstorms around Chicago"),
    "NW2034": (95, "a crew scheduling problem"),
    "NW1151": (None, "a hurricane warning in Miami"),
}

GATES = {"ORD": "B", "BOS": "C", "DEN": "A", "JFK": "T", "LAX": "D", "SFO": "E"}

DEMO_BOOKINGS = [
    # record locator, first, last, fare, [(flight number, day offset, seat)]
    ("QX7K2P", "Jane", "Doe", Fare.MAIN, [("NW881", 0, "23C")]),
    ("MRT4LQ", "Sam", "Rivera", Fare.BASIC, [("NW22", 0, "14A")]),
    ("7HJK2L", "Alex", "Kim", Fare.FLEX, [("NW405", 1, "3A")]),
    ("B4GG9E", "Priya", "Shah", Fare.MAIN, [("NW1200", -1, "12F")]),
    ("K9PLZ3", "Chris", "Novak", Fare.MAIN, [("NW610", -1, "30B")]),
    ("ZT3W8N", "Maria", "Lopez", Fare.FLEX, [("NW530", 1, "8D"), ("NW531", 3, "8D")]),
    ("H2RK7V", "Tom", "Becker", Fare.BASIC, [("NW2034", 0, "27E")]),
]

FIRST_NAMES = ["Ava", "Liam", "Noah", "Emma", "Mia", "Lucas", "Zoe", "Omar", "Lena", "Ravi"]
LAST_NAMES = ["Park", "Okafor", "Nguyen", "Fischer", "Silva", "Haddad", "Morgan", "Ito"]
LOCATOR_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _utc(day: date, local: str, tz: str) -> datetime:
    """Naive UTC datetime of ``local`` (HH:MM) on ``day`` in time zone ``tz``."""
    hours, minutes = (int(part) for part in local.split(":"))
    aware = datetime.combine(day, time(hours, minutes), tzinfo=ZoneInfo(tz))
    return aware.astimezone(timezone.utc).replace(tzinfo=None)


def _flights(day: date, today: date, rng: random.Random) -> list[Flight]:
    zones = {code: tz for code, _city, _name, tz in AIRPORTS}
    flights = []
    for route in SCHEDULE:
        departure = _utc(day, route.departs, zones[route.origin])
        arrival = departure + timedelta(minutes=route.minutes)
        status, late, reason = FlightStatus.SCHEDULED, 0, None
        if day == today and route.number in DISRUPTIONS:
            minutes, reason = DISRUPTIONS[route.number]
            status = FlightStatus.CANCELLED if minutes is None else FlightStatus.DELAYED
            late = minutes or 0
        letter = GATES.get(route.origin, "")
        flights.append(
            Flight(
                number=route.number,
                service_date=day,
                origin=route.origin,
                destination=route.destination,
                scheduled_departure=departure,
                scheduled_arrival=arrival,
                estimated_departure=departure + timedelta(minutes=late),
                estimated_arrival=arrival + timedelta(minutes=late),
                status=status,
                gate=f"{letter}{rng.randint(1, 40)}" if letter else str(rng.randint(1, 30)),
                terminal="1" if letter else None,
                disruption_reason=reason,
                seats_available=rng.choice([0, 3, 8, 14, 22, 40]),
            )
        )
    return flights


def _locator(rng: random.Random, taken: set[str]) -> str:
    while True:
        candidate = "".join(rng.choice(LOCATOR_ALPHABET) for _ in range(6))
        has_digit = any(c.isdigit() for c in candidate)
        if has_digit and candidate not in taken:
            taken.add(candidate)
            return candidate


def seed(session: Session, today: date) -> None:
    """Replaces the demo data with data generated for ``today`` (in the caller's transaction)."""
    for table in reversed(Base.metadata.sorted_tables):
        session.execute(delete(table))
    session.add_all(Airport(code=c, city=city, name=n, timezone=tz) for c, city, n, tz in AIRPORTS)
    rng = random.Random(20261123)
    flights: dict[tuple[str, int], Flight] = {}
    for offset in range(-2, 5):
        for flight in _flights(today + timedelta(days=offset), today, rng):
            flights[(flight.number, offset)] = flight
            session.add(flight)
    # The rebooking options of the cancelled demo flight must have seats.
    for number in ("NW24", "NW26"):
        flights[(number, 0)].seats_available = 12
    session.flush()

    taken = {record for record, *_ in DEMO_BOOKINGS}
    bookings = list(DEMO_BOOKINGS)
    for _ in range(40):
        route = rng.choice(SCHEDULE)
        bookings.append(
            (
                _locator(rng, taken),
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                rng.choice(list(Fare)),
                [(route.number, rng.randint(-2, 4), f"{rng.randint(1, 35)}{rng.choice('ABCDEF')}")],
            )
        )
    prices = {Fare.BASIC: 14900, Fare.MAIN: 28900, Fare.FLEX: 51900}
    for index, (record, first, last, fare, legs) in enumerate(bookings):
        booking = Booking(
            record_locator=record,
            first_name=first,
            last_name=last,
            email=f"{first}.{last}{index}@example.com".lower(),
            phone=f"+1-555-01{index % 100:02d}",
            fare=fare,
            total_paid_cents=prices[fare] * len(legs),
            currency="USD",
        )
        session.add(booking)
        for position, (number, offset, seat) in enumerate(legs, start=1):
            flight = flights[(number, offset)]
            session.add(Segment(booking=booking, position=position, flight_id=flight.id, seat=seat))
    now = datetime.combine(today, time(12, 0))
    session.add(
        BaggageReport(
            reference="JFKNW10234",
            record_locator="B4GG9E",
            status=BagStatus.OUT_FOR_DELIVERY,
            description="Black hard-shell suitcase with a yellow strap",
            last_seen_station="JFK",
            delivery_eta=now + timedelta(hours=6),
            created_at=now - timedelta(hours=20),
            updated_at=now - timedelta(hours=1),
        )
    )
    session.add(SeedInfo(seeded_for=today, version=SEED_VERSION))


def ensure_seeded(engine: Engine, today: date, force: bool = False) -> bool:
    """Creates the tables and seeds them unless they already hold today's demo data.

    Returns whether it seeded.
    """
    Base.metadata.create_all(engine)
    with Session(engine, future=True) as session, session.begin():
        info = session.scalars(select(SeedInfo)).first()
        if not force and info and info.seeded_for == today and info.version == SEED_VERSION:
            return False
        seed(session, today)
    return True


def main() -> None:
    """Command line: ``python -m actions.airline.seed [--force] [--today YYYY-MM-DD]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="seed even if already seeded today")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="day to seed for")
    args = parser.parse_args()
    today = args.today or utc_now().date()
    engine = db.make_engine(db.database_url())
    seeded = ensure_seeded(engine, today, force=args.force)
    where = engine.url.render_as_string(hide_password=True)
    print(f"{'Seeded' if seeded else 'Already seeded'} demo airline data for {today} in {where}")


if __name__ == "__main__":
    main()
