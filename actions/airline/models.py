"""The demo airline's operational data: flights, bookings and baggage reports.

These tables stand in for the brand's own systems (flight operations,
reservations, baggage tracing). The custom actions read them through
:mod:`actions.airline.repository`; a brand with real systems replaces that
module with a client for its APIs.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()

BOARDING_TIME = timedelta(minutes=40)
# Airlines call a flight late from 15 minutes on (the DOT's on-time measure).
DELAY_THRESHOLD_MINUTES = 15


class FlightStatus(str, enum.Enum):
    """What operations decided for a flight; the phase of the day follows from its times."""

    SCHEDULED = "scheduled"
    DELAYED = "delayed"
    CANCELLED = "cancelled"


class Phase(str, enum.Enum):
    """Where a flight is at a given moment, as a customer would ask about it."""

    ON_TIME = "on_time"
    DELAYED = "delayed"
    BOARDING = "boarding"
    DEPARTED = "departed"
    LANDED = "landed"
    CANCELLED = "cancelled"


class Fare(str, enum.Enum):
    """Fare families, which decide what a change or refund costs."""

    BASIC = "basic"
    MAIN = "main"
    FLEX = "flex"


class BagStatus(str, enum.Enum):
    """Progress of a baggage report."""

    SEARCHING = "searching"
    LOCATED = "located"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    CLOSED = "closed"


class Airport(Base):  # type: ignore[misc,valid-type]
    """An airport of the network; times are shown in its time zone."""

    __tablename__ = "airports"

    code = Column(String(3), primary_key=True)
    city = Column(String(80), nullable=False)
    name = Column(String(120), nullable=False)
    timezone = Column(String(64), nullable=False)


class Flight(Base):  # type: ignore[misc,valid-type]
    """One operation of a flight number on one day. Times are stored in UTC."""

    __tablename__ = "flights"
    __table_args__ = (UniqueConstraint("number", "service_date"),)

    id = Column(Integer, primary_key=True)
    number = Column(String(8), nullable=False, index=True)
    service_date: date = Column(Date, nullable=False)
    origin = Column(String(3), ForeignKey("airports.code"), nullable=False)
    destination = Column(String(3), ForeignKey("airports.code"), nullable=False)
    scheduled_departure: datetime = Column(DateTime, nullable=False)
    scheduled_arrival: datetime = Column(DateTime, nullable=False)
    estimated_departure: datetime = Column(DateTime, nullable=False)
    estimated_arrival: datetime = Column(DateTime, nullable=False)
    status = Column(Enum(FlightStatus, native_enum=False, length=16), nullable=False)
    gate = Column(String(8))
    terminal = Column(String(8))
    disruption_reason = Column(String(200))
    seats_available = Column(Integer, nullable=False, default=0)

    origin_airport = relationship(Airport, foreign_keys=[origin], lazy="joined")
    destination_airport = relationship(Airport, foreign_keys=[destination], lazy="joined")

    @property
    def delay_minutes(self) -> int:
        """Minutes between the scheduled and the estimated departure (never negative)."""
        delta = self.estimated_departure - self.scheduled_departure
        return max(0, int(delta.total_seconds() // 60))

    def phase(self, now: datetime) -> Phase:
        """The flight's phase at ``now`` (UTC), from its status and estimated times."""
        if self.status == FlightStatus.CANCELLED:
            return Phase.CANCELLED
        if now >= self.estimated_arrival:
            return Phase.LANDED
        if now >= self.estimated_departure:
            return Phase.DEPARTED
        if now >= self.estimated_departure - BOARDING_TIME:
            return Phase.BOARDING
        if self.delay_minutes >= DELAY_THRESHOLD_MINUTES:
            return Phase.DELAYED
        return Phase.ON_TIME


class Booking(Base):  # type: ignore[misc,valid-type]
    """A reservation, found by its record locator."""

    __tablename__ = "bookings"

    record_locator = Column(String(6), primary_key=True)
    first_name = Column(String(60), nullable=False)
    last_name = Column(String(60), nullable=False)
    email = Column(String(120), nullable=False)
    phone = Column(String(32))
    fare = Column(Enum(Fare, native_enum=False, length=8), nullable=False)
    total_paid_cents = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False, default="USD")

    segments = relationship(
        "Segment", back_populates="booking", order_by="Segment.position", lazy="selectin"
    )


class Segment(Base):  # type: ignore[misc,valid-type]
    """One flight of a booking."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("record_locator", "position"),)

    id = Column(Integer, primary_key=True)
    record_locator = Column(String(6), ForeignKey("bookings.record_locator"), nullable=False)
    position = Column(Integer, nullable=False)
    flight_id = Column(Integer, ForeignKey("flights.id"), nullable=False)
    seat = Column(String(4))

    booking = relationship(Booking, back_populates="segments")
    flight = relationship(Flight, lazy="joined")


class BaggageReport(Base):  # type: ignore[misc,valid-type]
    """A file opened for a delayed, damaged or lost bag (a "file reference")."""

    __tablename__ = "baggage_reports"

    reference = Column(String(10), primary_key=True)
    record_locator = Column(String(6), ForeignKey("bookings.record_locator"), nullable=False)
    status = Column(Enum(BagStatus, native_enum=False, length=20), nullable=False)
    description = Column(Text, nullable=False, default="")
    last_seen_station = Column(String(3))
    delivery_eta = Column(DateTime)
    created_at = Column(DateTime, nullable=False)
    updated_at = Column(DateTime, nullable=False)

    booking = relationship(Booking, lazy="joined")


class SeedInfo(Base):  # type: ignore[misc,valid-type]
    """Remembers which day the demo data was generated for."""

    __tablename__ = "seed_info"

    id = Column(Integer, primary_key=True)
    seeded_for: date = Column(Date, nullable=False)
    version = Column(Integer, nullable=False)
