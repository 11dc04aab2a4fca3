"""Helpers the tests share: settings for a temporary instance, Twilio forms, signed posts."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.webhook.signature import sign

TEST_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://bot.example.org"
ACCOUNT_SID = "AC" + "1" * 32


def make_settings(tmp_path: Path, database_url: str | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "HEALTHBOT_INSTANCE_DIR": tmp_path / "instance",
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": TEST_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "HEALTHBOT_PUBLIC_URL": PUBLIC_URL,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def twilio_form(body: str = "hello", *, sender: str = "whatsapp:+254712345678",
                sid: str | None = None, **extra: str) -> dict[str, str]:
    """A WhatsApp inbound form as Twilio posts it."""
    form = {
        "SmsMessageSid": sid or "SM" + uuid.uuid4().hex,
        "NumMedia": "0",
        "ProfileName": "Amina",
        "MessageType": "text",
        "SmsSid": "",
        "WaId": sender.removeprefix("whatsapp:+"),
        "SmsStatus": "received",
        "Body": body,
        "To": "whatsapp:+14155238886",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": "",
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    form["MessageSid"] = form["SmsSid"] = form["SmsMessageSid"]
    form.update(extra)
    return form


def signed_post(client: Any, form: dict[str, str], *, path: str = "/twilio/whatsapp",
                token: str = TEST_TOKEN, public_url: str = PUBLIC_URL) -> Any:
    """POST a form signed exactly as Twilio signs it, for our public URL."""
    signature = sign(token, public_url + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})
