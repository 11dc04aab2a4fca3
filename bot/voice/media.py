"""Fetch a message's media from Twilio, and from nowhere else.

The webhook hands us a `MediaUrlN`; fetching any URL a request names would let a forged or
replayed form make the bot call internal addresses (SSRF). So:

- the first URL must be on Twilio's API (`https://api.twilio.com`, or TWILIO_API_BASE_URL: a
  local mock in tests) under our own account's Messages, and gets the account's Basic auth
  (Twilio's "HTTP Basic Authentication for media access");
- Twilio answers with a redirect to a short-lived signed URL on its CDN; redirects are followed
  by hand, at most MAX_REDIRECTS, each only to an allowed host over https (`*.twiliocdn.com`,
  Twilio's S3 bucket path, HEALTHBOT_MEDIA_REDIRECT_HOSTS), and the credentials are never sent
  past the API host;
- the body is streamed and refused past `max_bytes` (WhatsApp caps audio at 16 MB), with
  connect/read timeouts and an overall deadline.

Nothing is written to disk: the audio lives in memory for as long as the transcription takes.

    MediaError
    ├── MediaRefused     the URL or a redirect leaves the allow-list (never retried)
    ├── MediaTooLarge    past the size cap (never retried)
    └── MediaUnavailable HTTP error, timeout, connection failure (`retryable`)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

MAX_REDIRECTS = 5
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
TOTAL_TIMEOUT_S = 30.0
# Twilio serves media from its CDN; older accounts were redirected to its S3 bucket, whose
# path starts with the bucket name.
TWILIO_CDN_SUFFIX = ".twiliocdn.com"
TWILIO_S3_HOSTS = frozenset({"s3-external-1.amazonaws.com", "s3.amazonaws.com"})
TWILIO_S3_BUCKET_PATH = "/media.twiliocdn.com/"


class MediaError(Exception):
    """The media could not be fetched."""

    retryable = False


class MediaRefused(MediaError):
    """The URL (or a redirect) is not one of Twilio's: nothing was fetched from it."""


class MediaTooLarge(MediaError):
    """The media is larger than the configured cap."""


class MediaUnavailable(MediaError):
    """Twilio did not hand the media over (HTTP error, timeout, connection failure)."""

    retryable = True


@dataclass(frozen=True, slots=True)
class Media:
    data: bytes
    content_type: str  # as Twilio served it, without parameters ("audio/ogg")
    url: str  # the MediaUrl Twilio posted


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """Where media may come from, and how much of it."""

    api_base_url: str  # "https://api.twilio.com" or a local mock
    account_sid: str | None
    auth: tuple[str, str] | None  # (Account SID, Auth Token)
    max_bytes: int = 16 * 1024 * 1024
    extra_redirect_hosts: Sequence[str] = ()

    def check_start(self, url: str) -> None:
        """Refuse a MediaUrl that is not under our account's messages on Twilio's API.

        Raises:
            MediaRefused: another host, scheme, port or account.
        """
        base, target = urlsplit(self.api_base_url), urlsplit(url)
        if (target.scheme, target.hostname, target.port) != (base.scheme, base.hostname,
                                                            base.port):
            raise MediaRefused(f"media URL is not on Twilio's API ({target.hostname!r})")
        if target.username or target.password:
            raise MediaRefused("media URL carries credentials of its own")
        prefix = base.path.rstrip("/") + "/2010-04-01/Accounts/"
        if not target.path.startswith(prefix) or "/Media/" not in target.path:
            raise MediaRefused("media URL is not a message's Media resource")
        account = target.path[len(prefix):].split("/", 1)[0]
        if self.account_sid and account != self.account_sid:
            raise MediaRefused("media URL belongs to another Twilio account")

    def check_redirect(self, url: str) -> None:
        """Refuse a redirect anywhere but Twilio's API host or its media CDN, over https.

        Raises:
            MediaRefused: the redirect leaves the allow-list.
        """
        target = urlsplit(url)
        host = (target.hostname or "").lower()
        base = urlsplit(self.api_base_url)
        if (target.scheme, host, target.port) == (base.scheme, base.hostname, base.port):
            return
        if target.scheme != "https" or target.username or target.password:
            raise MediaRefused(f"media redirect to a non-https URL ({host!r})")
        if host.endswith(TWILIO_CDN_SUFFIX) or host in self.extra_redirect_hosts:
            return
        if host in TWILIO_S3_HOSTS and target.path.startswith(TWILIO_S3_BUCKET_PATH):
            return
        raise MediaRefused(f"media redirect to a host that is not Twilio's ({host!r})")

    def is_api(self, url: str) -> bool:
        base, target = urlsplit(self.api_base_url), urlsplit(url)
        return (target.scheme, target.hostname, target.port) == (base.scheme, base.hostname,
                                                                base.port)


def fetch_media(
    client: httpx.Client,
    url: str,
    policy: MediaPolicy,
    *,
    deadline_s: float = TOTAL_TIMEOUT_S,
) -> Media:
    """Download one media item Twilio posted, within the policy.

    Raises:
        MediaRefused: the URL or a redirect is not Twilio's.
        MediaTooLarge: larger than policy.max_bytes.
        MediaUnavailable: HTTP error, timeout or connection failure.
    """
    policy.check_start(url)
    deadline = time.monotonic() + deadline_s
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise MediaUnavailable("media download took too long")
        timeout = httpx.Timeout(min(READ_TIMEOUT_S, left), connect=min(CONNECT_TIMEOUT_S, left))
        # Basic auth only for Twilio's API; a CDN URL is signed and must not see the token.
        auth = policy.auth if policy.is_api(current) else None
        try:
            with client.stream("GET", current, auth=auth, timeout=timeout,
                               follow_redirects=False) as response:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise MediaUnavailable("media redirect without a Location")
                    current = urljoin(current, location)
                    policy.check_redirect(current)
                    continue
                if response.status_code != 200:
                    raise MediaUnavailable(f"Twilio answered HTTP {response.status_code} "
                                           "for the media")
                data = _read_capped(response, policy.max_bytes, deadline)
                kind = response.headers.get("content-type", "application/octet-stream")
                return Media(data=data, content_type=kind.split(";", 1)[0].strip().lower(),
                             url=url)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"media download failed: {type(exc).__name__}") from exc
    raise MediaRefused(f"more than {MAX_REDIRECTS} redirects for one media item")


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise MediaTooLarge(f"media is {declared} bytes, more than the {max_bytes} allowed")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise MediaTooLarge(f"media is more than the {max_bytes} bytes allowed")
        if time.monotonic() > deadline:
            raise MediaUnavailable("media download took too long")
        chunks.append(chunk)
    return b"".join(chunks)
