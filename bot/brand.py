"""The brand the assistant speaks for, read from ``brand.yml``."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.contract import RATING_SCALE
from bot.expectations import CareTeam

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, eq=False)
class Brand:
    """Facts about the brand that code needs (wording lives in domain.yml)."""

    name: str
    carrier_code: str
    twitter_handle: str
    website: str
    manage_booking_url: str
    baggage_url: str
    gateway_messages: dict[str, str]
    # priority -> {"first": minutes, "next": minutes}
    service_levels: dict[str, dict[str, int]]
    # What the bot does with a public post it is unsure of: "handover" (a person
    # answers) or "invite_private" (a short human reply inviting a DM). It never
    # asks a customer to rephrase in public.
    unsure_in_public: str = "handover"
    # When the care team works and how fast its queue moves: what a handed-over
    # customer is told about the wait (bot/expectations.py). None: nothing said.
    care_team: CareTeam | None = None
    # The one-tap answers to a satisfaction question, worst first; empty: none offered.
    rating_labels: tuple[str, ...] = ()

    def message(self, name: str, **values: str) -> str:
        """One of the gateway's own messages, filled in."""
        return self.gateway_messages[name].format(**values)


@functools.cache
def load_brand(path: str | None = None) -> Brand:
    """Reads the brand file (``BRAND_FILE`` or ``brand.yml`` at the project root)."""
    file = Path(path or os.environ.get("BRAND_FILE") or PROJECT_ROOT / "brand.yml")
    raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    return Brand(
        name=str(raw["name"]),
        carrier_code=str(raw["carrier_code"]).upper(),
        twitter_handle=str(raw["twitter_handle"]).lstrip("@"),
        website=str(raw["website"]),
        manage_booking_url=str(raw["manage_booking_url"]),
        baggage_url=str(raw["baggage_url"]),
        gateway_messages={str(k): str(v) for k, v in (raw.get("gateway_messages") or {}).items()},
        service_levels={
            str(priority): {str(k): int(v) for k, v in targets.items()}
            for priority, targets in (raw.get("service_levels") or {}).items()
        },
        unsure_in_public=_choice(raw, "unsure_in_public", ("handover", "invite_private")),
        care_team=CareTeam.from_raw(raw["care_team"]) if raw.get("care_team") else None,
        rating_labels=_rating_labels(raw.get("rating_labels")),
    )


def _rating_labels(raw: object) -> tuple[str, ...]:
    if not raw:
        return ()
    labels = tuple(str(label).strip() for label in raw) if isinstance(raw, list) else ()
    if len(labels) != RATING_SCALE or not all(labels):
        raise ValueError(f"brand.yml: rating_labels must be {RATING_SCALE} labels, worst first")
    return labels


def _choice(raw: dict, key: str, allowed: tuple[str, ...]) -> str:
    value = str(raw.get(key) or allowed[0])
    if value not in allowed:
        raise ValueError(f"brand.yml: {key} must be one of {', '.join(allowed)}, not {value!r}")
    return value
