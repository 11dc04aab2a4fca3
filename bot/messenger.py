"""Sending WhatsApp messages through Twilio's REST API with the official `twilio` client.

`TwilioMessenger` implements `bot.outbound.Messenger`. Twilio's refusals become `SendFailed`:

    SendFailed
    ├── retryable=True    429 / 20429 / 63018 (rate limits, with `retry_after`), 5xx, network errors
    └── retryable=False   63016 (outside the 24-hour window), 21617 / 21658 (too long),
                          21610 (recipient unsubscribed: `send_recorded` marks the contact opted
                          out), any other 4xx

It also answers "did Twilio take this message?" (`find_sent`), so a row whose send outcome is
unknown (the worker died after Twilio accepted it) can be reconciled instead of sent twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from bot.outbound import UNSUBSCRIBED, SendFailed, SentMessage, Template

log = logging.getLogger(__name__)

# Twilio error codes (CONTRACT.md A4) and what they mean for us.
OUTSIDE_WINDOW = 63016
RATE_LIMITED = 63018
TOO_MANY_REQUESTS = 20429
TOO_LONG = 21617
PARAMETER_TOO_LONG = 21658
RATE_LIMIT_CODES = frozenset({RATE_LIMITED, TOO_MANY_REQUESTS, 429})
# Twilio sends no Retry-After; the Sandbox allows one message per 3 s, production senders more.
RATE_LIMIT_BACKOFF_S = 3.0
SERVER_ERROR_BACKOFF_S = 5.0
# How many recent messages to one recipient a reconciliation looks through (one API page).
LOOKUP_PAGE = 20
# Twilio's and our clocks differ a little; a message created just before our mark still counts.
CLOCK_SLACK = dt.timedelta(seconds=30)


def send_failed_from(exc: TwilioException | RequestException) -> SendFailed:
    """Translate a twilio client error into SendFailed, deciding whether a retry can help."""
    if not isinstance(exc, TwilioRestException):
        # Connection refused, timeout, TLS: Twilio may be briefly unreachable. No code: we can't
        # tell whether Twilio took the message, so the row is reconciled before any resend.
        return SendFailed(f"Twilio unreachable: {type(exc).__name__}: {exc}", retryable=True,
                          retry_after=SERVER_ERROR_BACKOFF_S)
    code = exc.code if isinstance(exc.code, int) else None
    status = exc.status
    message = f"Twilio refused the message (HTTP {status}, code {code}): {exc.msg}"[:480]
    if code in RATE_LIMIT_CODES or status == 429:
        return SendFailed(message, code=code or 429, retryable=True,
                          retry_after=RATE_LIMIT_BACKOFF_S)
    if code in (OUTSIDE_WINDOW, TOO_LONG, PARAMETER_TOO_LONG, UNSUBSCRIBED):
        return SendFailed(message, code=code, retryable=False)
    if status >= 500:
        return SendFailed(message, code=code, retryable=True, retry_after=SERVER_ERROR_BACKOFF_S)
    return SendFailed(message, code=code, retryable=False)


class TwilioMessenger:
    """The Messenger port on the official twilio client: one `messages.create` per bubble."""

    def __init__(self, client: Client, from_: str, *,
                 messaging_service_sid: str | None = None) -> None:
        self.client = client
        self.from_ = from_
        self.messaging_service_sid = messaging_service_sid

    def _create(self, to: str, status_callback: str | None, **fields: Any) -> tuple[str, str]:
        if status_callback:
            fields["status_callback"] = status_callback
        if self.messaging_service_sid:
            # Content templates are meant to go through a Messaging Service (CONTRACT.md A6).
            fields["messaging_service_sid"] = self.messaging_service_sid
        try:
            message = self.client.messages.create(to=to, from_=self.from_, **fields)
        except (TwilioException, RequestException) as exc:
            raise send_failed_from(exc) from exc
        return str(message.sid), str(message.status or "queued")

    def send_text(self, to: str, body: str, *, status_callback: str | None) -> tuple[str, str]:
        """Send one free-form bubble; return (MessageSid, initial status).

        Raises:
            bot.outbound.SendFailed: Twilio refused it; `retryable` says whether to try again.
        """
        return self._create(to, status_callback, body=body)

    def send_media(
        self, to: str, media_url: str, *, status_callback: str | None
    ) -> tuple[str, str]:
        """Send one media message (a spoken reply) that Twilio fetches from `media_url`.

        Raises:
            bot.outbound.SendFailed: Twilio refused it; `retryable` says whether to try again.
        """
        return self._create(to, status_callback, media_url=[media_url])

    def send_template(
        self, to: str, template: Template, *, status_callback: str | None
    ) -> tuple[str, str]:
        """Send an approved template (ContentSid + ContentVariables as a JSON string).

        Raises:
            bot.outbound.SendFailed: Twilio refused it; `retryable` says whether to try again.
        """
        return self._create(
            to,
            status_callback,
            content_sid=template.content_sid,
            content_variables=json.dumps(dict(template.variables), ensure_ascii=False),
        )

    def find_sent(self, to: str, since: dt.datetime) -> list[SentMessage]:
        """Return the messages from our sender to `to` created since `since`, newest first.

        Raises:
            bot.outbound.SendFailed: the lookup itself failed (retryable: try again later).
        """
        try:
            page = self.client.messages.page(to=to, from_=self.from_, page_size=LOOKUP_PAGE)
            found = list(page)
        except (TwilioException, RequestException) as exc:
            failed = send_failed_from(exc)
            failed.retryable = True  # a failed lookup decides nothing: look again later
            raise failed from exc
        cutoff = since - CLOCK_SLACK
        result = []
        for message in found:
            created = message.date_created
            if created is not None and created < cutoff:
                continue
            result.append(SentMessage(sid=str(message.sid), status=str(message.status or ""),
                                      body=str(message.body or ""), created_at=created))
        return result
