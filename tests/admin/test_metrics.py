"""GET /metrics: who may scrape it, and that the places that know count what happens.

(`healthbot serve --workers 2`, where the workers' samples are summed, is tested end to end in
tests/e2e/test_serve_workers.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from bot.errors import ModelTimeout
from bot.llm.router import Router
from tests.admin.support import bearer, make_staff
from tests.helpers import signed_post, twilio_form
from tests.llm.fakes import FakeClock, ScriptedModel, make_request

OUTSIDE = "203.0.113.9"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(app: Any, address: str = "127.0.0.1", **headers: str) -> Any:
    return app.test_client().get("/metrics", headers=headers,
                                 environ_base={"REMOTE_ADDR": address})


def test_loopback_may_scrape_and_gets_the_exposition_format(sqlite_app: Any) -> None:
    response = scrape(sqlite_app)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    for name in ("healthbot_inbound_messages_total", "healthbot_queue_depth",
                 "healthbot_spool_waiting", "healthbot_emergencies_total"):
        assert name in text


def test_other_addresses_need_a_staff_token(sqlite_app: Any) -> None:
    assert scrape(sqlite_app, OUTSIDE).status_code == 401
    assert scrape(sqlite_app, OUTSIDE, Authorization="Bearer hbt_guessed").status_code == 401
    _, _, token = make_staff(sqlite_app, "viewer")
    assert scrape(sqlite_app, OUTSIDE, **bearer(token)).status_code == 200


def test_a_request_through_a_proxy_is_not_local(sqlite_app: Any) -> None:
    # Behind nginx on the same host every request comes from 127.0.0.1.
    assert scrape(sqlite_app, "127.0.0.1", **{"X-Forwarded-For": OUTSIDE}).status_code == 401


@pytest.fixture
def allowing_app(tmp_path: Path) -> Iterator[Any]:
    from bot.app import create_app
    from tests.helpers import make_settings

    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'hb.db'}",
                                   HEALTHBOT_METRICS_ALLOW="10.0.0.0/8, 203.0.113.9"),
                     upgrade_db=True, background=False)
    yield app
    app.extensions["bot"].close()


def test_the_allow_list_takes_addresses_and_networks(allowing_app: Any) -> None:
    assert scrape(allowing_app, OUTSIDE).status_code == 200
    assert scrape(allowing_app, "10.20.30.40").status_code == 200
    assert scrape(allowing_app, "203.0.113.10").status_code == 401


def test_a_malformed_allow_list_stops_start_up_with_one_line(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="HEALTHBOT_METRICS_ALLOW"):
        load_settings(_env_file=None, HEALTHBOT_METRICS_ALLOW="10.0.0.0/8,the office")


def test_the_webhook_counts_messages_replies_and_emergencies(sqlite_app: Any) -> None:
    before = (sample("healthbot_inbound_messages_total"),
              sample("healthbot_emergencies_total"),
              sample("healthbot_replies_total", level="emergency"))
    client = sqlite_app.test_client()
    assert signed_post(client, twilio_form("how do I make ORS?")).status_code == 200
    assert signed_post(client, twilio_form("my baby is not breathing",
                                           sender="whatsapp:+254700000002")).status_code == 200
    after = (sample("healthbot_inbound_messages_total"),
             sample("healthbot_emergencies_total"),
             sample("healthbot_replies_total", level="emergency"))
    assert after[0] - before[0] == 2
    assert after[1] - before[1] == 1 and after[2] - before[2] == 1
    text = scrape(sqlite_app).get_data(as_text=True)
    assert f"healthbot_inbound_messages_total {after[0]}" in text


def test_status_callbacks_count_by_status(sqlite_app: Any) -> None:
    before = sample("healthbot_delivery_status_total", status="delivered")
    odd = sample("healthbot_delivery_status_total", status="other")
    client = sqlite_app.test_client()
    for status in ("delivered", "made-up-status"):
        form = {"MessageSid": "SM" + "f" * 32, "MessageStatus": status,
                "AccountSid": "AC" + "1" * 32}
        assert signed_post(client, form, path="/twilio/status").status_code == 200
    assert sample("healthbot_delivery_status_total", status="delivered") == before + 1
    assert sample("healthbot_delivery_status_total", status="other") == odd + 1


def test_the_router_counts_calls_failures_and_latency_by_provider() -> None:
    clock = FakeClock()
    flaky = ScriptedModel("flakyco", "m1", [ModelTimeout("slow", provider="flakyco")],
                          clock=clock, cost_s=2.0)
    steady = ScriptedModel("steadyco", "m2", ["fine"], clock=clock, cost_s=0.5)
    router = Router([flaky, steady], steady, clock=clock, sleep=clock.sleep, rng=lambda: 0.0,
                    max_retries=0)
    before = (sample("healthbot_model_calls_total", provider="flakyco", outcome="timeout"),
              sample("healthbot_model_call_failures_total", provider="flakyco"),
              sample("healthbot_model_calls_total", provider="steadyco", outcome="ok"),
              sample("healthbot_model_call_seconds_count", provider="flakyco"))
    assert router.complete(make_request()).text == "fine"
    after = (sample("healthbot_model_calls_total", provider="flakyco", outcome="timeout"),
             sample("healthbot_model_call_failures_total", provider="flakyco"),
             sample("healthbot_model_calls_total", provider="steadyco", outcome="ok"),
             sample("healthbot_model_call_seconds_count", provider="flakyco"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]


def test_the_spool_is_a_live_gauge(sqlite_app: Any) -> None:
    spool = Path(sqlite_app.extensions["bot"].settings.instance_dir) / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    (spool / "SMaaaa.json").write_text("{}")
    text = scrape(sqlite_app).get_data(as_text=True)
    assert "healthbot_spool_waiting 1.0" in text
