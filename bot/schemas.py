"""Pydantic models at the edges: what Twilio posts to us, and what we answer."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Twilio caps a WhatsApp body at 1,600 characters; anything longer did not come from Twilio.
MAX_INBOUND_BODY = 1600
MAX_MEDIA = 10
# What no database will store: PostgreSQL text refuses NUL, and a lone surrogate can't be encoded
# as UTF-8 at all. Removed from every field before parsing; the spool keeps the raw form.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """Return the text without the characters a database refuses (NUL, lone surrogates)."""
    return _UNSTORABLE.sub("", text)


class MediaItem(BaseModel):
    url: str
    content_type: str | None = None


class Location(BaseModel):
    latitude: float
    longitude: float
    address: str | None = None
    label: str | None = None


class InboundMessage(BaseModel):
    """A WhatsApp message as Twilio's webhook posts it (field names are Twilio's, as aliases).

    Unknown fields are kept (`model_extra`): Twilio adds parameters without notice.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, str_strip_whitespace=False)

    message_sid: str = Field(alias="MessageSid", min_length=2, max_length=64)
    account_sid: str | None = Field(default=None, alias="AccountSid")
    sender: str = Field(alias="From", min_length=1, max_length=64)
    to: str | None = Field(default=None, alias="To")
    body: str = Field(default="", alias="Body")
    num_media: int = Field(default=0, alias="NumMedia", ge=0, le=MAX_MEDIA)
    profile_name: str | None = Field(default=None, alias="ProfileName", max_length=200)
    wa_id: str | None = Field(default=None, alias="WaId", max_length=32)
    button_text: str | None = Field(default=None, alias="ButtonText", max_length=256)
    button_payload: str | None = Field(default=None, alias="ButtonPayload", max_length=256)
    latitude: float | None = Field(default=None, alias="Latitude", ge=-90, le=90)
    longitude: float | None = Field(default=None, alias="Longitude", ge=-180, le=180)
    address: str | None = Field(default=None, alias="Address", max_length=500)
    label: str | None = Field(default=None, alias="Label", max_length=200)
    media: list[MediaItem] = Field(default_factory=list)

    @field_validator("body")
    @classmethod
    def _body_size(cls, value: str) -> str:
        if len(value) > MAX_INBOUND_BODY:
            raise ValueError(f"Body is longer than {MAX_INBOUND_BODY} characters")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        address = value.split(":", 1)[1] if value.startswith("whatsapp:") else value
        digits = address.removeprefix("+")
        if not digits.isdigit() or not 6 <= len(digits) <= 15:
            raise ValueError("From must be a phone address like whatsapp:+14155551234")
        return value

    @model_validator(mode="before")
    @classmethod
    def _collect_media(cls, data: Any) -> Any:
        # Storable text first; then MediaUrl0..N / MediaContentType0..N, flat form fields.
        if not isinstance(data, dict):
            return data
        data = {
            (storable(k) if isinstance(k, str) else k): (storable(v) if isinstance(v, str) else v)
            for k, v in data.items()
        }
        try:
            count = int(data.get("NumMedia") or 0)
        except ValueError:
            return data  # the field validator reports the bad NumMedia
        items = []
        for i in range(min(max(count, 0), MAX_MEDIA)):
            url = data.get(f"MediaUrl{i}")
            if url:
                items.append({"url": url, "content_type": data.get(f"MediaContentType{i}")})
        data["media"] = items
        return data

    @property
    def phone(self) -> str:
        """The sender's number as +E164."""
        address = self.sender.split(":", 1)[1] if ":" in self.sender else self.sender
        return address if address.startswith("+") else "+" + address

    @property
    def contact_key(self) -> str:
        """The WhatsApp id: WaId when Twilio sent it, else the digits of From."""
        return self.wa_id or self.phone.removeprefix("+")

    @property
    def location(self) -> Location | None:
        if self.latitude is None or self.longitude is None:
            return None
        return Location(
            latitude=self.latitude, longitude=self.longitude, address=self.address, label=self.label
        )

    @property
    def text(self) -> str:
        """What the person wrote (a tapped button's text when there is no body)."""
        return self.body.strip() or (self.button_text or "").strip()

    def extra_fields(self) -> dict[str, Any]:
        """Twilio fields we don't model, minus the flattened media ones, kept for the record."""
        extra = dict(self.model_extra or {})
        return {
            k: v for k, v in extra.items()
            if not k.startswith(("MediaUrl", "MediaContentType"))
        }
