"""Emergency numbers by the sender's country, from a reviewed data file.

The country comes from the sender's E.164 number through `phonenumbers`; the numbers themselves
come only from `data/emergency_numbers.yaml`, where every row carries its source and review date.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import phonenumbers
import yaml

from safety.types import EmergencyContact

UNKNOWN = EmergencyContact(country=None, emergency=None)


def country_of(sender: str | None) -> str | None:
    """Return the ISO country code of a `whatsapp:+E164` or `+E164` address, or None."""
    if not sender:
        return None
    raw = sender.split(":", 1)[1] if sender.startswith("whatsapp:") else sender
    raw = raw.strip()
    if not raw.startswith("+"):
        raw = "+" + raw
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    if not region or region == "ZZ":
        # The metadata can lag behind new number ranges; a WhatsApp sender is a working number,
        # so fall back to the main country of its calling code (GB for +44, US for +1).
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return region if region and region != "ZZ" else None


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, Any]]:
    text = resources.files("safety").joinpath("data/emergency_numbers.yaml").read_text("utf-8")
    rows: list[dict[str, Any]] = yaml.safe_load(text)["countries"]
    return {row["country"]: row for row in rows}


def contact_for(sender: str | None) -> EmergencyContact:
    """Return the emergency contact for the sender's country, or UNKNOWN."""
    country = country_of(sender)
    if country is None:
        return UNKNOWN
    row = _table().get(country)
    if row is None:
        return EmergencyContact(country=country, emergency=None)
    return EmergencyContact(
        country=country,
        emergency=str(row["emergency"]),
        crisis_line=str(row["crisis_line"]) if row.get("crisis_line") else None,
        crisis_name=row.get("crisis_name"),
        source=row.get("source"),
        reviewed=str(row.get("reviewed")) if row.get("reviewed") else None,
    )


def known_countries() -> list[str]:
    """Return the ISO codes the data file covers."""
    return sorted(_table())
