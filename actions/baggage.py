"""Baggage: the status of a bag report, or a new one for a booking."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.airline import repository
from actions.airline.clock import utc_now
from actions.airline.models import BaggageReport, BagStatus, Booking
from actions.bookings import validate_booking_ref
from actions.common import airline_session, city_time
from actions.flights import first_valid
from actions.wording import Reply
from bot.brand import load_brand
from in_rasa.nlu import values

FINISHED = {BagStatus.DELIVERED, BagStatus.CLOSED}


class ValidateBaggageForm(FormValidationAction):
    """Needs a booking reference, unless the customer already gave a bag report reference."""

    def name(self) -> str:
        return "validate_baggage_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if first_valid(tracker.get_slot("baggage_ref"), values.baggage_ref):
            return []
        return domain_slots

    def validate_booking_ref(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return validate_booking_ref(slot_value, Reply(dispatcher, tracker))


class ActionBaggageLookup(Action):
    """Reports on an existing bag report, or opens one for the booking."""

    def name(self) -> str:
        return "action_baggage_lookup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        reference = first_valid(tracker.get_slot("baggage_ref"), values.baggage_ref)
        ref = first_valid(tracker.get_slot("booking_ref"), values.booking_ref)
        with airline_session() as session:
            if reference:
                report = repository.find_baggage_report(session, reference)
                if report is None:
                    reply.say("bag_report_not_found", reference=reference)
                    return [SlotSet("baggage_ref", None)]
                tell_status(reply, report)
                return []
            booking = repository.find_booking(session, ref) if ref else None
            if booking is None:
                reply.say("booking_not_found", booking_ref=ref or "")
                return [SlotSet("booking_ref", None)]
            open_reports = [
                r
                for r in repository.baggage_reports_for(session, booking.record_locator)
                if r.status not in FINISHED
            ]
            if open_reports:
                tell_status(reply, open_reports[0])
                return [SlotSet("baggage_ref", open_reports[0].reference)]
            report = self._open_report(session, booking, tracker)
            reply.say(
                "bag_report_created",
                reference=report.reference,
                booking_ref=booking.record_locator,
                baggage_url=load_brand().baggage_url,
            )
            return [SlotSet("baggage_ref", report.reference)]

    @staticmethod
    def _open_report(session: Session, booking: Booking, tracker: Tracker) -> BaggageReport:
        # The bag goes missing where the trip ends: the last flight's arrival.
        last_flight = booking.segments[-1].flight
        description = _customer_words(tracker)
        return repository.open_baggage_report(
            session,
            booking,
            station=last_flight.destination,
            carrier=load_brand().carrier_code,
            description=description,
            now=utc_now(),
        )


def _customer_words(tracker: Tracker) -> str:
    """What the customer said about the bag, for the baggage team."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
            if intent == "baggage_issue":
                return str(event.get("text") or "")
    return ""


def tell_status(reply: Reply, report: BaggageReport) -> None:
    """Says where the bag on ``report`` is."""
    eta = ""
    if report.delivery_eta is not None:
        arrival = report.booking.segments[-1].flight.destination_airport
        eta = city_time(report.delivery_eta, arrival.city, arrival.timezone)
    reply.say(
        f"bag_{report.status.value}",
        reference=report.reference,
        station=report.last_seen_station or "",
        eta=eta,
    )
