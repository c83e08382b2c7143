"""Queries against the airline's systems. Every function takes the caller's session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from actions.airline.clock import local_date
from actions.airline.models import (
    BOARDING_TIME,
    BaggageReport,
    BagStatus,
    Booking,
    Flight,
    FlightStatus,
)


def find_flight(session: Session, number: str, on: date | None, now: datetime) -> Flight | None:
    """The flight ``number`` on day ``on``; without a day, today's or else the next one.

    Customers rarely say which day they mean: the operation they care about is
    today's, or the coming one if none flies today, or the most recent past one.
    "Today" is the day at the flight's origin at ``now`` (UTC), as its
    service date is.
    """
    if on is not None:
        return session.scalars(
            select(Flight).where(Flight.number == number, Flight.service_date == on)
        ).first()
    operations = session.scalars(
        select(Flight).where(Flight.number == number).order_by(Flight.service_date)
    ).all()
    if not operations:
        return None
    upcoming = [
        f for f in operations if f.service_date >= local_date(now, f.origin_airport.timezone)
    ]
    return upcoming[0] if upcoming else operations[-1]


def flight_number_exists(session: Session, number: str) -> bool:
    """Whether the airline operates ``number`` on any day."""
    return session.scalar(select(func.count()).where(Flight.number == number)) > 0


def rebooking_options(
    session: Session, flight: Flight, now: datetime, limit: int = 3
) -> Sequence[Flight]:
    """Later flights on the same route with free seats that the customer can still catch
    at ``now`` (UTC), soonest first.

    "Later" is measured from both the disrupted flight's time and ``now``: a
    flight that has left, or is already boarding (its doors close before a
    rebooked customer could reach the gate), is no option.
    """
    earliest = max(flight.scheduled_departure, now + BOARDING_TIME)
    return session.scalars(
        select(Flight)
        .where(
            Flight.origin == flight.origin,
            Flight.destination == flight.destination,
            Flight.id != flight.id,
            Flight.status != FlightStatus.CANCELLED,
            Flight.seats_available > 0,
            Flight.estimated_departure > earliest,
        )
        .order_by(Flight.estimated_departure)
        .limit(limit)
    ).all()


def connections_after(
    session: Session, flight: Flight, within: timedelta = timedelta(hours=8)
) -> Sequence[Flight]:
    """Flights leaving the arrival airport soon after ``flight`` was scheduled to land."""
    return session.scalars(
        select(Flight)
        .where(
            Flight.origin == flight.destination,
            Flight.scheduled_departure > flight.scheduled_arrival,
            Flight.scheduled_departure <= flight.scheduled_arrival + within,
        )
        .order_by(Flight.scheduled_departure)
    ).all()


def find_booking(session: Session, record_locator: str) -> Booking | None:
    """The booking with this record locator, with its flights."""
    return session.get(Booking, record_locator.upper())


def find_baggage_report(session: Session, reference: str) -> BaggageReport | None:
    """The baggage report with this file reference."""
    return session.get(BaggageReport, reference.upper())


def baggage_reports_for(session: Session, record_locator: str) -> Sequence[BaggageReport]:
    """Open and past baggage reports of a booking, newest first."""
    return session.scalars(
        select(BaggageReport)
        .where(BaggageReport.record_locator == record_locator.upper())
        .order_by(BaggageReport.created_at.desc())
    ).all()


def open_baggage_report(
    session: Session, booking: Booking, station: str, carrier: str, description: str, now: datetime
) -> BaggageReport:
    """Opens a report with the next free file reference (station + carrier + 5 digits).

    The reference is unique; a concurrent report taking the same number makes
    the insert fail, and the next number is tried.
    """
    prefix = f"{station}{carrier}"
    for _attempt in range(5):
        highest = session.scalar(
            select(func.max(BaggageReport.reference)).where(
                BaggageReport.reference.like(f"{prefix}%")
            )
        )
        number = int(highest[len(prefix) :]) + 1 if highest else 10001
        report = BaggageReport(
            reference=f"{prefix}{number:05d}",
            record_locator=booking.record_locator,
            status=BagStatus.SEARCHING,
            description=description[:500],
            last_seen_station=None,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(report)
            return report
        except IntegrityError:
            continue
    raise RuntimeError(f"could not allocate a baggage reference for {prefix}")
