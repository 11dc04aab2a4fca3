"""The emergency-number table: coverage, provenance, and agreement with libphonenumber."""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from typing import Any

import phonenumbers
import pytest
import yaml
from phonenumbers import shortnumberinfo

from safety.numbers import UNKNOWN, contact_for, country_of, known_countries

# Rows whose emergency number the phonenumbers short-number metadata does not list for that
# region. Each was checked against the cited source; keep this list short and explain each one.
NOT_IN_METADATA: dict[str, tuple[str, str]] = {
    "NG": ("112", "metadata lists only 199 for NG; 112 is the NCC national emergency number"),
    "PE": ("106", "metadata lists 105/116/117; 106 is the Ministry of Health SAMU ambulance"),
    "LK": ("1990", "metadata lists 110-119; 1990 is the national Suwa Seriya ambulance"),
}

# Countries the brief asked for that are left out on purpose (no single reliable national
# ambulance number could be sourced); the bot then gives the generic "local emergency number"
# advice instead of a possibly wrong number.
DELIBERATELY_MISSING = {"CM", "CD", "HT"}

REQUIRED = {
    "IN", "BR", "ID", "US", "MX", "RU", "PH", "PK", "NG", "AR", "CO", "TR", "DE", "IT", "ES",
    "GB", "FR", "ZA", "KE", "EG", "BD", "VN", "MY", "SA", "PE", "CL", "EC", "VE", "TZ", "UG",
    "GH", "ET", "MA", "DZ", "NL", "PT", "UA", "PL", "TH", "NP", "LK", "IR", "IQ", "AE", "IL",
    "CI", "SN", "RW", "ZM", "ZW", "MZ", "AO", "BO", "GT", "DO", "CA", "AU", "SG", "CH", "BE",
    "AT", "IE", "RO", "GR", "SE",
}  # fmt: skip

ALLOWED_KEYS = {
    "country", "emergency", "crisis_line", "crisis_name", "crisis_source", "source", "reviewed",
    "note",
}  # fmt: skip


def _rows() -> list[dict[str, Any]]:
    text = resources.files("safety").joinpath("data/emergency_numbers.yaml").read_text("utf-8")
    rows: list[dict[str, Any]] = yaml.safe_load(text)["countries"]
    return rows


ROWS = _rows()


def test_covers_at_least_60_countries() -> None:
    assert len(ROWS) >= 60
    assert len(known_countries()) == len(ROWS)


def test_covers_the_requested_countries() -> None:
    present = {row["country"] for row in ROWS}
    assert present >= REQUIRED, sorted(REQUIRED - present)
    assert not (DELIBERATELY_MISSING & present)


def test_no_duplicate_countries() -> None:
    codes = [row["country"] for row in ROWS]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["country"])
def test_row_shape_and_provenance(row: dict[str, Any]) -> None:
    assert set(row) <= ALLOWED_KEYS, set(row) - ALLOWED_KEYS
    code = row["country"]
    assert re.fullmatch(r"[A-Z]{2}", code)
    # A real ISO region: libphonenumber knows a calling code for it.
    assert code in phonenumbers.SUPPORTED_REGIONS
    assert isinstance(row["emergency"], str), "quote numbers so YAML keeps leading zeros"
    assert re.fullmatch(r"\d{2,5}", row["emergency"])
    assert re.fullmatch(r"https://\S+", row["source"])
    assert row["reviewed"] == dt.date(2026, 11, 29)
    if "crisis_line" in row:
        assert isinstance(row["crisis_line"], str)
        assert re.fullmatch(r"[*\d][\d ]{1,15}", row["crisis_line"])
        assert row.get("crisis_name"), "a crisis line needs the service's name"
        assert re.fullmatch(r"https://\S+", row.get("crisis_source", ""))
    else:
        assert "crisis_name" not in row and "crisis_source" not in row


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["country"])
def test_emergency_number_matches_libphonenumber(row: dict[str, Any]) -> None:
    code, number = row["country"], row["emergency"]
    assert code in shortnumberinfo.SUPPORTED_SHORT_REGIONS, f"no short-number data for {code}"
    confirmed = shortnumberinfo.is_emergency_number(number, code)
    if code in NOT_IN_METADATA:
        listed, _reason = NOT_IN_METADATA[code]
        assert listed == number, "exception list is out of date"
        # If the metadata starts confirming it, drop the exception.
        assert not confirmed, f"{code} {number} is now confirmed; remove it from the exceptions"
    else:
        assert confirmed, f"{number} is not an emergency number for {code} per libphonenumber"


def test_exceptions_are_few_and_real() -> None:
    present = {row["country"] for row in ROWS}
    assert set(NOT_IN_METADATA) <= present
    assert len(NOT_IN_METADATA) <= 5


def test_contact_for_brazil() -> None:
    contact = contact_for("whatsapp:+5511987654321")
    assert contact.country == "BR"
    assert contact.emergency == "192"
    assert contact.crisis_line == "188"
    assert contact.crisis_name
    assert contact.known
    assert contact.source and contact.source.startswith("https://")
    assert contact.reviewed == "2026-11-29"


def test_contact_for_india_plain_e164() -> None:
    contact = contact_for("+919876543210")
    assert contact.country == "IN"
    assert contact.emergency == "112"
    assert contact.crisis_line == "14416"


def test_contact_for_country_without_row() -> None:
    # +237 is Cameroon, deliberately not in the table.
    contact = contact_for("whatsapp:+237671234567")
    assert contact.country == "CM"
    assert contact.emergency is None
    assert not contact.known


@pytest.mark.parametrize(
    "sender", [None, "", "garbage", "whatsapp:", "whatsapp:+", "+999123", "+0000", "whatsapp:abc"]
)
def test_contact_for_garbage_is_unknown(sender: str | None) -> None:
    assert contact_for(sender) == UNKNOWN
    assert not contact_for(sender).known


def test_country_of_unassigned_code() -> None:
    # +999 is not an assigned country calling code.
    assert country_of("+99912345678") is None


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["country"])
def test_contact_for_every_row(row: dict[str, Any]) -> None:
    example = phonenumbers.example_number_for_type(
        row["country"], phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(row["country"])
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    contact = contact_for(f"whatsapp:{e164}")
    assert contact.country == row["country"]
    assert contact.emergency == row["emergency"]
