"""Booking look-ups: changing a booking, and what a refund request is owed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.airline import repository
from actions.airline.clock import local_date, utc_now
from actions.airline.models import Booking, Fare, FlightStatus
from actions.common import (
    airline_session,
    city_time,
    day_phrase,
    duration,
    latest_intent_among,
    money,
)
from actions.flights import COMPENSATION_DELAY_MINUTES, display_number, first_valid
from actions.handover import hand_over
from actions.wording import Reply
from bot.brand import load_brand
from bot.contract import HandoverReason
from in_rasa.nlu import values

BOOKING_INTENTS = {"booking_change", "refund_request"}
# A delay this long lets the customer change for free, like a cancellation does.
FREE_CHANGE_DELAY_MINUTES = 60


def validate_booking_ref(slot_value: Any, reply: Reply) -> dict[str, Any]:
    """Accepts a record locator in any case and with stray punctuation."""
    ref = first_valid(slot_value, values.booking_ref)
    if ref is None:
        reply.say("invalid_booking_ref")
    return {"booking_ref": ref}


class ActionAskBookingRef(Action):
    """The booking and baggage forms' question (in public: please DM us instead)."""

    def name(self) -> str:
        return "action_ask_booking_ref"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        Reply(dispatcher, tracker).say("ask_booking_ref")
        return []


class ValidateBookingForm(FormValidationAction):
    """Validates the record locator asked for by the booking form."""

    def name(self) -> str:
        return "validate_booking_form"

    def validate_booking_ref(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return validate_booking_ref(slot_value, Reply(dispatcher, tracker))


def itinerary(booking: Booking, now: datetime) -> str:
    """ "NW 881 Chicago to London today at 18:30 Chicago time, seat 23C; ..." """
    legs = []
    for segment in booking.segments:
        flight = segment.flight
        origin = flight.origin_airport
        leg = (
            f"{display_number(flight.number)} {origin.city} to "
            f"{flight.destination_airport.city} "
            f"{day_phrase(flight.service_date, local_date(now, origin.timezone))} at "
            f"{city_time(flight.scheduled_departure, origin.city, origin.timezone)}"
        )
        legs.append(leg + (f", seat {segment.seat}" if segment.seat else ""))
    return "; ".join(legs)


class ActionBookingLookup(Action):
    """Finds the booking and answers the change or refund question about it."""

    def name(self) -> str:
        return "action_booking_lookup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        ref = first_valid(tracker.get_slot("booking_ref"), values.booking_ref)
        asked = latest_intent_among(tracker, BOOKING_INTENTS) or "booking_change"
        now = utc_now()
        with airline_session() as session:
            booking = repository.find_booking(session, ref) if ref else None
            if booking is None:
                reply.say("booking_not_found", booking_ref=ref or "")
                return [SlotSet("booking_ref", None)]
            reply.say(
                "booking_summary",
                first_name=booking.first_name,
                booking_ref=booking.record_locator,
                itinerary=itinerary(booking, now),
                fare=booking.fare.value.title(),
            )
            if asked == "refund_request":
                self._refund(reply, booking)
                return hand_over(reply, HandoverReason.POLICY)
            self._change(reply, booking)
        return []

    @staticmethod
    def _change(reply: Reply, booking: Booking) -> None:
        for segment in booking.segments:
            flight = segment.flight
            if flight.status == FlightStatus.CANCELLED:
                disruption = "cancelled"
            elif flight.delay_minutes >= FREE_CHANGE_DELAY_MINUTES:
                disruption = f"delayed by {duration(flight.delay_minutes)}"
            else:
                continue
            reply.say(
                "change_disrupted",
                flight=display_number(flight.number),
                disruption=disruption,
            )
            return
        reply.say(
            f"change_options_{booking.fare.value}",
            manage_url=f"{load_brand().manage_booking_url}?ref={booking.record_locator}",
        )

    @staticmethod
    def _refund(reply: Reply, booking: Booking) -> None:
        amount = money(booking.total_paid_cents, booking.currency)
        for segment in booking.segments:
            flight = segment.flight
            if flight.status == FlightStatus.CANCELLED:
                reply.say(
                    "refund_cancelled",
                    flight=display_number(flight.number),
                    amount=amount,
                )
                return
            if flight.delay_minutes >= COMPENSATION_DELAY_MINUTES:
                reply.say(
                    "refund_delay_compensation",
                    flight=display_number(flight.number),
                    delay=duration(flight.delay_minutes),
                )
                return
        refundable = booking.fare == Fare.FLEX
        reply.say(
            "refund_refundable" if refundable else "refund_non_refundable",
            fare=booking.fare.value.title(),
            amount=amount,
        )
