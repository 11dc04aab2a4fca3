"""Fetching media: only Twilio's API for our account, redirects only to Twilio's CDN, capped."""

from __future__ import annotations

import base64

import httpx
import pytest

from bot.voice.media import (
    MediaPolicy,
    MediaRefused,
    MediaTooLarge,
    MediaUnavailable,
    fetch_media,
)

ACCOUNT = "AC" + "a" * 32
TOKEN = "token-0123"
MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1"
CDN = "https://mms.twiliocdn.com/AC/abc?Expires=1&Signature=s"
POLICY = MediaPolicy(api_base_url="https://api.twilio.com", account_sid=ACCOUNT,
                     auth=(ACCOUNT, TOKEN), max_bytes=1000)
BASIC = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()


def client_for(routes: dict[str, httpx.Response], seen: list[httpx.Request]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        url = str(request.url)
        if url not in routes:
            return httpx.Response(599, text=f"unexpected request to {url}")
        return routes[url]

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_twilio_gets_basic_auth_and_the_cdn_never_sees_it() -> None:
    seen: list[httpx.Request] = []
    client = client_for({
        MEDIA: httpx.Response(307, headers={"location": CDN}),
        CDN: httpx.Response(200, content=b"OggS-audio", headers={"content-type": "audio/ogg"}),
    }, seen)
    media = fetch_media(client, MEDIA, POLICY)
    assert (media.data, media.content_type) == (b"OggS-audio", "audio/ogg")
    assert seen[0].headers["authorization"] == BASIC
    assert "authorization" not in seen[1].headers


@pytest.mark.parametrize("url", [
    f"https://evil.example/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1",
    f"http://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1",
    f"https://api.twilio.com:8443/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1",
    f"https://api.twilio.com.evil.example/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/M",
    f"https://user:pw@api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1",
    f"https://api.twilio.com/2010-04-01/Accounts/AC{'b' * 32}/Messages/MM1/Media/ME1",
    f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
    "http://169.254.169.254/latest/meta-data/",
])
def test_a_url_that_is_not_our_accounts_media_is_refused_unfetched(url: str) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(MediaRefused):
        fetch_media(client_for({}, seen), url, POLICY)
    assert seen == []


@pytest.mark.parametrize("target", [
    "https://evil.example/x",
    "http://mms.twiliocdn.com/x",  # not https
    "https://twiliocdn.com.evil.example/x",
    "https://s3-external-1.amazonaws.com/other-bucket/x",
    "http://127.0.0.1:6379/",
])
def test_a_redirect_away_from_twilio_is_refused_unfollowed(target: str) -> None:
    seen: list[httpx.Request] = []
    client = client_for({MEDIA: httpx.Response(302, headers={"location": target})}, seen)
    with pytest.raises(MediaRefused):
        fetch_media(client, MEDIA, POLICY)
    assert [str(r.url) for r in seen] == [MEDIA]


def test_twilios_s3_bucket_and_configured_hosts_are_allowed() -> None:
    s3 = "https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC/x"
    seen: list[httpx.Request] = []
    client = client_for({MEDIA: httpx.Response(302, headers={"location": s3}),
                         s3: httpx.Response(200, content=b"a")}, seen)
    assert fetch_media(client, MEDIA, POLICY).data == b"a"
    policy = MediaPolicy(api_base_url="https://api.twilio.com", account_sid=ACCOUNT,
                         auth=None, extra_redirect_hosts=("media.example.org",))
    other = "https://media.example.org/x"
    client = client_for({MEDIA: httpx.Response(302, headers={"location": other}),
                         other: httpx.Response(200, content=b"b")}, [])
    assert fetch_media(client, MEDIA, policy).data == b"b"


def test_too_many_redirects_are_refused() -> None:
    loop = MEDIA + "?again"
    client = client_for({MEDIA: httpx.Response(302, headers={"location": loop}),
                         loop: httpx.Response(302, headers={"location": loop})}, [])
    with pytest.raises(MediaRefused, match="redirects"):
        fetch_media(client, MEDIA, POLICY)


def test_media_over_the_cap_is_refused_declared_or_streamed() -> None:
    declared = client_for({MEDIA: httpx.Response(200, content=b"x" * 10,
                                                 headers={"content-length": "5000"})}, [])
    with pytest.raises(MediaTooLarge):
        fetch_media(declared, MEDIA, POLICY)

    def chunks() -> httpx.SyncByteStream:
        class Stream(httpx.SyncByteStream):
            def __iter__(self):  # type: ignore[no-untyped-def]
                for _ in range(20):
                    yield b"y" * 100

        return Stream()

    streamed = client_for({MEDIA: httpx.Response(200, stream=chunks())}, [])
    with pytest.raises(MediaTooLarge):
        fetch_media(streamed, MEDIA, POLICY)


def test_http_errors_and_timeouts_are_unavailable_and_retryable() -> None:
    client = client_for({MEDIA: httpx.Response(404)}, [])
    with pytest.raises(MediaUnavailable) as info:
        fetch_media(client, MEDIA, POLICY)
    assert info.value.retryable

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(MediaUnavailable, match="ReadTimeout"):
        fetch_media(httpx.Client(transport=httpx.MockTransport(slow)), MEDIA, POLICY)


def test_a_local_mock_base_url_is_the_api_host() -> None:
    policy = MediaPolicy(api_base_url="http://127.0.0.1:4010", account_sid=ACCOUNT,
                         auth=(ACCOUNT, TOKEN))
    url = f"http://127.0.0.1:4010/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1"
    seen: list[httpx.Request] = []
    client = client_for({url: httpx.Response(200, content=b"ok",
                                             headers={"content-type": "audio/ogg; codecs=opus"})},
                        seen)
    media = fetch_media(client, url, policy)
    assert media.content_type == "audio/ogg" and seen[0].headers["authorization"] == BASIC
    with pytest.raises(MediaRefused):
        fetch_media(client, MEDIA, policy)  # the real API is not the configured one
