"""The official `twilio` REST client, pointed at TWILIO_API_BASE_URL (Twilio, or a local mock)."""

from __future__ import annotations

from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

TWILIO_API = "https://api.twilio.com"


class RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]  # untyped library class
    """Send the twilio client's requests to another base URL (Prism in tests, a proxy in prod)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


def make_client(
    account_sid: str, auth_token: str, *, base_url: str = TWILIO_API, timeout: float = 10.0
) -> Client:
    """Build a twilio Client; requests go to `base_url` when it isn't Twilio's own."""
    http_client: TwilioHttpClient
    if base_url.rstrip("/") == TWILIO_API:
        http_client = TwilioHttpClient(timeout=timeout)
    else:
        http_client = RebasedHttpClient(base_url, timeout=timeout)
    return Client(account_sid, auth_token, http_client=http_client)
