"""The brand the assistant speaks for, read from ``brand.yml``."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

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
    )
