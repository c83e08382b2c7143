"""Flight status and disruption look-ups."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.airline import repository
from actions.airline.clock import local_date, utc_now
from actions.airline.models import Flight, Phase
from actions.common import (
    airline_session,
    city_time,
    day_phrase,
    duration,
    latest_intent_among,
    local_time,
    second_intent,
    visibility,
)
from actions.wording import Reply
from bot.brand import load_brand
from bot.contract import Visibility
from in_rasa.nlu import values

FLIGHT_INTENTS = {"flight_status", "flight_delayed", "flight_cancelled"}
# From this delay on, a later flight may suit the customer better: offer one.
REBOOKING_DELAY_MINUTES = 120
# EU261 and most airlines' own commitments start compensation at 3 hours.
COMPENSATION_DELAY_MINUTES = 180


def display_number(number: str) -> str:
    """ "NW881" -> "NW 881", as printed on a boarding pass."""
    return f"{number[:2]} {number[2:]}"


def first_valid(slot_value: Any, parse: Any) -> Any:
    """The first of possibly several extracted values that ``parse`` accepts."""
    candidates = slot_value if isinstance(slot_value, list) else [slot_value]
    for candidate in candidates:
        if isinstance(candidate, str):
            parsed = parse(candidate)
            if parsed:
                return parsed
    return None


class ValidateFlightForm(FormValidationAction):
    """Accepts a flight number in any of the shapes customers write it."""

    def name(self) -> str:
        return "validate_flight_form"

    def validate_flight_number(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        carrier = load_brand().carrier_code
        number = first_valid(slot_value, lambda text: values.flight_number(text, carrier))
        if number is None:
            Reply(dispatcher, tracker).say("invalid_flight_number")
        return {"flight_number": number}


class ActionAskFlightNumber(Action):
    """The flight form's question."""

    def name(self) -> str:
        return "action_ask_flight_number"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        Reply(dispatcher, tracker).say("ask_flight_number")
        return []


class ActionFlightLookup(Action):
    """Tells the customer where their flight is and, when it is disrupted, what they can do."""

    def name(self) -> str:
        return "action_flight_lookup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        brand = load_brand()
        number = first_valid(
            tracker.get_slot("flight_number"), lambda t: values.flight_number(t, brand.carrier_code)
        )
        now = utc_now()
        today = now.date()
        day = first_valid(tracker.get_slot("date"), lambda t: values.travel_date(t, today))
        asked = latest_intent_among(tracker, FLIGHT_INTENTS) or "flight_status"
        # "Flight cancelled, I want my money back": the look-up, then the refund path.
        refund = second_intent(tracker, FLIGHT_INTENTS) == "refund_request"
        events: list[EventType] = [SlotSet("date", None), SlotSet("pending_offer", None)]
        if number is None:
            reply.say("ask_flight_number")
            return events
        with airline_session() as session:
            flight = repository.find_flight(session, number, day, now)
            if flight is None:
                self._not_found(reply, number, day, today, brand.carrier_code)
                return events
            offered = self._report(reply, session, flight, asked, now, not refund)
        if offered:
            events.append(SlotSet("pending_offer", "rebooking"))
        if refund:
            events += refund_path(reply, tracker)
        return events

    @staticmethod
    def _not_found(reply: Reply, number: str, day: date | None, today: date, carrier: str) -> None:
        if not number.startswith(carrier):
            reply.say("flight_other_airline", flight=display_number(number))
            return
        reply.say(
            "flight_not_found",
            flight=display_number(number),
            day=day_phrase(day, today) if day else "",
        )

    def _report(
        self,
        reply: Reply,
        session: Session,
        flight: Flight,
        asked: str,
        now: datetime,
        offer: bool = True,
    ) -> bool:
        """Sends the status; returns whether a rebooking was offered (never without
        ``offer``: a customer who wants their money back is not offered another flight)."""
        details = flight_details(flight, now)
        phase = flight.phase(now)
        if phase == Phase.CANCELLED:
            reply.say("flight_cancelled", **details)
            return offer and self._offer_rebooking(reply, session, flight, now)
        if phase == Phase.DELAYED:
            reply.say("flight_delayed", **details)
            if asked == "flight_delayed":
                reply.say("missed_connection")
            if flight.delay_minutes >= COMPENSATION_DELAY_MINUTES:
                reply.say("delay_compensation")
            if offer and flight.delay_minutes >= REBOOKING_DELAY_MINUTES:
                return self._offer_rebooking(reply, session, flight, now)
            return False
        response = {
            Phase.ON_TIME: "flight_on_time",
            Phase.BOARDING: "flight_boarding",
            Phase.DEPARTED: "flight_departed",
            Phase.LANDED: "flight_landed",
        }[phase]
        reply.say(response, **details)
        return False

    @staticmethod
    def _offer_rebooking(reply: Reply, session: Session, flight: Flight, now: datetime) -> bool:
        options = repository.rebooking_options(session, flight, now)
        if not options:
            reply.say("no_rebooking_options")
        else:
            listed = "; ".join(
                f"{display_number(o.number)} {departure_phrase(o, now)}" for o in options
            )
            reply.say("rebooking_options", options=listed)
        reply.say("offer_rebooking")
        return True


def refund_path(reply: Reply, tracker: Tracker) -> list[EventType]:
    """Continues to the refund: the booking form in private, an invitation to a DM in public."""
    if visibility(tracker) == Visibility.PUBLIC:
        reply.say("refund_in_private")
        return []
    reply.say("refund_next")
    return [FollowupAction("booking_form")]


def departure_phrase(flight: Flight, now: datetime) -> str:
    """ "today at 17:45 Boston time": the day as people at the origin name it at ``now``."""
    origin = flight.origin_airport
    today = local_date(now, origin.timezone)
    moment = city_time(flight.estimated_departure, origin.city, origin.timezone)
    return f"{day_phrase(flight.service_date, today)} at {moment}"


def flight_details(flight: Flight, now: datetime) -> dict[str, str]:
    """The values the flight responses in actions/responses.yml can use; every time
    carries its city ("18:30 Chicago time"), every day is named as at the origin."""
    origin, destination = flight.origin_airport, flight.destination_airport
    return {
        "flight": display_number(flight.number),
        "origin": origin.city,
        "destination": destination.city,
        "day": day_phrase(flight.service_date, local_date(now, origin.timezone)),
        "departure": city_time(flight.estimated_departure, origin.city, origin.timezone),
        # Said right after the new departure time, whose city it shares.
        "scheduled": local_time(flight.scheduled_departure, origin.timezone),
        "arrival": city_time(flight.estimated_arrival, destination.city, destination.timezone),
        "gate": flight.gate or "to be announced",
        "delay": duration(flight.delay_minutes),
        "reason": flight.disruption_reason or "operational reasons",
    }
