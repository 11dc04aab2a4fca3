"""The shared HTTP helpers (wait hints, durations, estimates, client) and the price table."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import ModelTimeout
from bot.llm.http import (
    Secret,
    build_client,
    call_timeout,
    estimate_tokens,
    estimate_usage,
    gemini_retry_delay,
    parse_duration,
    parse_wait_hint,
)
from bot.llm.pricing import PRICES_PATH, PriceTable, cost_of, default_table
from bot.ports import Usage
from tests.llm.fakes import make_request

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12ms", 0.012),
        ("6s", 6.0),
        ("1m30s", 90.0),
        ("37s", 37.0),
        ("0.5s", 0.5),
        ("2h", 7200.0),
        ("", None),
        ("soon", None),
        ("5 s", None),
        ("1x", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_wait_hint_prefers_retry_after_ms_then_seconds_then_date() -> None:
    assert parse_wait_hint({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_wait_hint({"Retry-After": "4"}) == 4.0
    when = format_datetime(datetime.fromtimestamp(NOW + 12, UTC), usegmt=True)
    assert parse_wait_hint({"retry-after": when}, now_wall=NOW) == pytest.approx(12.0)
    past = format_datetime(datetime.fromtimestamp(NOW - 100, UTC), usegmt=True)
    assert parse_wait_hint({"retry-after": past}, now_wall=NOW) == 0.0
    assert parse_wait_hint({"retry-after": "garbage"}) is None
    assert parse_wait_hint({}) is None


def test_wait_hint_from_anthropic_resets_uses_only_exhausted_limits() -> None:
    def at(seconds: float) -> str:
        return datetime.fromtimestamp(NOW + seconds, UTC).isoformat().replace("+00:00", "Z")

    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": at(3),
        "anthropic-ratelimit-output-tokens-remaining": "0",
        "anthropic-ratelimit-output-tokens-reset": at(6),
        "anthropic-ratelimit-input-tokens-remaining": "5000",
        "anthropic-ratelimit-input-tokens-reset": at(59),
    }
    assert parse_wait_hint(headers, now_wall=NOW) == pytest.approx(6.0)
    headers["retry-after"] = "2"
    assert parse_wait_hint(headers, now_wall=NOW) == 2.0


def test_gemini_retry_delay_shapes() -> None:
    info = "type.googleapis.com/google.rpc.RetryInfo"
    assert gemini_retry_delay({"details": [{"@type": info, "retryDelay": "37s"}]}) == 37.0
    assert gemini_retry_delay({"details": [{"@type": info, "retryDelay": "1.5s"}]}) == 1.5
    assert gemini_retry_delay({"details": [{"@type": info, "retryDelay": {"seconds": 2}}]}) == 2.0
    assert gemini_retry_delay({"details": [{"@type": "other"}]}) is None
    assert gemini_retry_delay({}) is None


@given(st.text(max_size=300))
def test_estimate_is_conservative_chars_over_three(text: str) -> None:
    tokens = estimate_tokens(text)
    assert tokens * 3 >= len(text)
    assert tokens <= len(text) // 3 + 1


def test_estimated_usage_is_flagged() -> None:
    usage = estimate_usage(make_request("x" * 300), "y" * 30)
    assert usage.estimated
    assert usage.output_tokens == 10
    assert usage.input_tokens is not None and usage.input_tokens > 100


def test_call_timeout_is_the_smaller_of_configured_and_time_left() -> None:
    request = make_request(deadline=100.0)
    assert call_timeout(30.0, request, now=98.0).read == pytest.approx(2.0)
    assert call_timeout(1.0, request, now=50.0).read == 1.0
    assert call_timeout(30.0, make_request()).read == 30.0
    with pytest.raises(ModelTimeout):
        call_timeout(30.0, request, now=100.5)


def test_build_client_has_explicit_timeouts_and_enough_connections() -> None:
    with build_client(timeout_s=20.0, connect_s=3.0) as client:
        assert isinstance(client, httpx.Client)
        assert client.timeout.read == 20.0 and client.timeout.connect == 3.0
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections >= 12  # three perspectives x several conversations


def test_secret_hides_itself() -> None:
    secret = Secret("sk-abc")
    assert (
        "sk-abc" not in repr(secret) and "sk-abc" not in str(secret) and "sk-abc" not in f"{secret}"
    )
    assert secret.reveal() == "sk-abc" and bool(secret)
    assert not Secret(None) and not Secret("")


# ---------------------------------------------------------------------------- prices


def test_shipped_price_table_loads_and_every_row_is_sourced() -> None:
    table = PriceTable.from_yaml(PRICES_PATH)
    import yaml

    rows = yaml.safe_load(PRICES_PATH.read_text(encoding="utf-8"))
    for key, row in rows.items():
        assert row["as_of"] and row["source"], key
        price = table.get(*key.split("/", 1))
        assert price is not None
        if price.self_hosted:
            assert price.input_cost_per_token == 0 and price.output_cost_per_token == 0
        else:
            assert row.get("verify") is True, f"{key}: figures from PROVIDERS.md need re-verifying"


def test_cost_of_known_dated_self_hosted_and_unknown_models() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_of("openai", "gpt-4o-mini", usage) == pytest.approx(0.15 + 0.60)
    assert cost_of("openai", "gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.75)
    assert cost_of("anthropic", "claude-sonnet-4-20250514", usage) == pytest.approx(18.0)
    assert cost_of("openai", "o3-pro", usage) == pytest.approx(100.0)
    assert cost_of("ollama", "llama3.1:8b", usage) == 0.0
    assert cost_of("offline", "kb", usage) == 0.0
    # Unknown: None, never 0 and never a neighbour's price.
    assert cost_of("openai", "o3-pro-mini", usage) is None
    assert cost_of("anthropic", "claude-sonnet-4-5", usage) is None
    assert cost_of("gemini", "gemini-2.5-flash", usage) is None
    assert cost_of("groq", "llama-3.1-8b-instant", usage) is None


def test_estimated_usage_still_gets_a_cost_and_no_usage_gets_none() -> None:
    estimated = Usage(input_tokens=1000, output_tokens=100, estimated=True)
    assert cost_of("openai", "gpt-4o", estimated) == pytest.approx(1000 * 2.5e-6 + 100 * 1e-5)
    assert cost_of("openai", "gpt-4o", Usage()) is None


def test_cache_rates_are_used_when_the_row_has_them() -> None:
    table = PriceTable.from_mapping(
        {
            "anthropic/m": {
                "input_cost_per_token": 3e-6,
                "output_cost_per_token": 15e-6,
                "cache_read_input_token_cost": 0.3e-6,
                "cache_creation_input_token_cost": 3.75e-6,
                "as_of": "2026-11-29",
                "source": "test",
            }
        }
    )
    usage = Usage(input_tokens=1000, output_tokens=10)
    cost = table.cost("anthropic", "m", usage, cache_read_tokens=600, cache_write_tokens=300)
    assert cost == pytest.approx(100 * 3e-6 + 600 * 0.3e-6 + 300 * 3.75e-6 + 10 * 15e-6)


def test_a_row_without_source_is_rejected() -> None:
    with pytest.raises(ValueError, match="x/y"):
        PriceTable.from_mapping({"x/y": {"input_cost_per_token": 1, "output_cost_per_token": 1}})


def test_default_table_is_cached() -> None:
    assert default_table() is default_table()
