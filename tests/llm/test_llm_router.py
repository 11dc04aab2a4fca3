"""Router: retries, backoff, wait hints, failover, cooldown, deadline and the last resort."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from bench.fake_openai_server import FakeLLMServer, Rule
from bot.errors import (
    ModelBadResponse,
    ModelRateLimited,
    ModelRefused,
    ModelTimeout,
    ModelUnavailable,
)
from bot.llm.openai_compat import OpenAICompatModel
from bot.llm.router import Router
from bot.ports import ChatModel
from tests.llm.fakes import FakeClock, ScriptedModel, make_request


def _router(chain: list[ChatModel], last: ChatModel, clock: FakeClock, **kwargs: object) -> Router:
    return Router(
        chain,
        last,
        clock=clock,
        sleep=clock.sleep,
        rng=lambda: 0.0,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _models(clock: FakeClock, *scripts: list[object]) -> list[ScriptedModel]:
    return [
        ScriptedModel(f"p{i}", f"m{i}", script, clock=clock, cost_s=0.1)  # type: ignore[arg-type]
        for i, script in enumerate(scripts)
    ]


def _offline(clock: FakeClock) -> ScriptedModel:
    return ScriptedModel("offline", "kb", ["offline answer"], clock=clock)


def test_first_model_answers(clock: FakeClock) -> None:
    (a,) = _models(clock, ["hello"])
    response = _router([a], _offline(clock), clock).complete(make_request())
    assert response.text == "hello" and response.mode == "single"
    assert [c.outcome for c in response.calls] == ["ok"]
    assert clock.sleeps == []


def test_timeout_then_success_retries_with_backoff(clock: FakeClock) -> None:
    (a,) = _models(clock, [ModelTimeout("slow"), "hello"])
    response = _router([a], _offline(clock), clock).complete(make_request())
    assert response.text == "hello" and response.mode == "single"
    assert [c.outcome for c in response.calls] == ["timeout", "ok"]
    assert response.calls[0].error is not None and "ModelTimeout" in response.calls[0].error
    assert clock.sleeps == [pytest.approx(0.5 * 0.75)]  # base backoff with the lowest jitter


def test_5xx_twice_then_success_backs_off_exponentially(clock: FakeClock) -> None:
    err = ModelUnavailable("502", status=502)
    (a,) = _models(clock, [err, err, "hello"])
    response = _router([a], _offline(clock), clock, min_calls=10).complete(make_request())
    assert response.text == "hello"
    assert [c.outcome for c in response.calls] == ["unavailable", "unavailable", "ok"]
    assert clock.sleeps == [pytest.approx(0.375), pytest.approx(0.75)]


def test_jitter_stays_within_three_quarters_and_full(clock: FakeClock) -> None:
    (a,) = _models(clock, [ModelUnavailable("x", status=500), "ok"])
    router = Router([a], _offline(clock), clock=clock, sleep=clock.sleep, rng=lambda: 0.999)
    router.complete(make_request())
    assert 0.375 <= clock.sleeps[0] <= 0.5


def test_retries_stop_after_max_retries_then_fail_over(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelUnavailable("500", status=500)], ["from b"])
    response = _router([a, b], _offline(clock), clock, max_retries=2).complete(make_request())
    assert a.calls == 3
    assert response.text == "from b" and response.mode == "fallback"
    assert [c.outcome for c in response.calls] == ["unavailable"] * 3 + ["ok"]


def test_429_with_retry_after_within_cap_is_obeyed(clock: FakeClock) -> None:
    (a,) = _models(clock, [ModelRateLimited("429", status=429, retry_after=2.0), "hello"])
    response = _router([a], _offline(clock), clock).complete(make_request(deadline=clock() + 20))
    assert response.text == "hello"
    assert clock.sleeps == [2.0]
    assert [c.outcome for c in response.calls] == ["rate_limited", "ok"]


def test_429_with_retry_after_beyond_cap_fails_over_at_once(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelRateLimited("429", retry_after=30.0), "never"], ["from b"])
    response = _router([a, b], _offline(clock), clock, retry_cap_s=8.0).complete(make_request())
    assert response.text == "from b" and response.mode == "fallback"
    assert a.calls == 1 and clock.sleeps == []


def test_429_whose_wait_does_not_fit_the_deadline_fails_over_at_once(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelRateLimited("429", retry_after=3.0), "never"], ["from b"])
    request = make_request(deadline=clock() + 2.0)
    response = _router([a, b], _offline(clock), clock).complete(request)
    assert response.text == "from b"
    assert a.calls == 1 and clock.sleeps == []


def test_backoff_that_does_not_fit_the_deadline_fails_over(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelTimeout("slow"), "never"], ["from b"])
    request = make_request(deadline=clock() + 0.3)  # 0.1 s spent, 0.2 s left < 0.375 s backoff
    response = _router([a, b], _offline(clock), clock).complete(request)
    assert a.calls == 1 and clock.sleeps == []
    assert response.text == "from b"


def test_non_retryable_errors_fail_over_without_waiting(clock: FakeClock) -> None:
    a, b, c = _models(
        clock,
        [ModelUnavailable("401", status=401, retryable=False)],
        [ModelRateLimited("insufficient_quota", status=429, retryable=False)],
        ["from c"],
    )
    response = _router([a, b, c], _offline(clock), clock).complete(make_request())
    assert response.text == "from c" and response.mode == "fallback"
    assert (a.calls, b.calls) == (1, 1) and clock.sleeps == []
    assert [(x.provider, x.outcome) for x in response.calls] == [
        ("p0", "unavailable"),
        ("p1", "rate_limited"),
        ("p2", "ok"),
    ]


def test_empty_200_counts_as_failure_and_fails_over(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelBadResponse("empty choices", status=200)], ["from b"])
    router = _router([a, b], _offline(clock), clock, min_calls=2)
    first = router.complete(make_request())
    assert first.text == "from b" and first.calls[0].outcome == "bad_response"
    assert not router.cooling_down(a)
    router.complete(make_request())  # second empty 200 in the window: 100 % failures
    assert router.cooling_down(a)


def test_refusal_fails_over_but_does_not_cool_the_provider_down(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelRefused("SAFETY")], ["from b"])
    router = _router([a, b], _offline(clock), clock, min_calls=1)
    for _ in range(3):
        assert router.complete(make_request()).text == "from b"
    assert not router.cooling_down(a) and a.calls == 3


def test_cooldown_skips_a_failing_provider_then_expires(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelUnavailable("503", status=503)], ["from b"])
    router = _router([a, b], _offline(clock), clock, cooldown_s=30.0, min_calls=3)
    router.complete(make_request())  # 3 failed attempts: 100 % failure rate -> cooldown
    assert a.calls == 3 and router.cooling_down(a)

    response = router.complete(make_request())
    assert a.calls == 3, "a cooling provider is skipped"
    assert response.text == "from b" and response.mode == "fallback"
    assert [c.provider for c in response.calls] == ["p1"]

    clock.now += 30.0
    assert not router.cooling_down(a)
    a.script = ["a is back"]
    response = router.complete(make_request())
    assert response.text == "a is back" and response.mode == "single"


def test_one_failure_among_successes_does_not_cool_down(clock: FakeClock) -> None:
    ok = ["fine"] * 5
    (a,) = _models(clock, [*ok, ModelUnavailable("500", status=500, retryable=False), "fine"])
    router = _router([a], _offline(clock), clock, min_calls=3, failure_threshold=0.5)
    for _ in range(7):
        router.complete(make_request())
    assert not router.cooling_down(a)


def test_bad_key_cools_down_at_once(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelUnavailable("401", status=401, retryable=False)], ["from b"])
    router = _router([a, b], _offline(clock), clock)
    router.complete(make_request())
    assert router.cooling_down(a)


def test_everything_failing_ends_at_the_last_resort(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelTimeout("slow")], [ModelRateLimited("429", retry_after=99)])
    offline = _offline(clock)
    response = _router([a, b], offline, clock).complete(make_request(deadline=clock() + 60))
    assert response.text == "offline answer" and response.mode == "fallback"
    assert response.provider == "offline"
    assert [c.outcome for c in response.calls] == ["timeout"] * 3 + ["rate_limited", "ok"]
    assert response.calls[-1].provider == "offline"


def test_last_resort_ignores_cooldown_and_deadline(clock: FakeClock) -> None:
    (a,) = _models(clock, [ModelUnavailable("401", status=401, retryable=False)])
    offline = _offline(clock)
    router = _router([a], offline, clock)
    router.complete(make_request())
    assert router.cooling_down(a)
    response = router.complete(make_request(deadline=clock() - 5))  # deadline already passed
    assert response.text == "offline answer"
    assert a.calls == 1 and offline.calls == 2


def test_deadline_passed_mid_chain_skips_the_rest(clock: FakeClock) -> None:
    a = ScriptedModel("p0", "m0", [ModelTimeout("slow")], clock=clock, cost_s=5.0)
    b = ScriptedModel("p1", "m1", ["never"], clock=clock)
    offline = _offline(clock)
    response = _router([a, b], offline, clock).complete(make_request(deadline=clock() + 4.0))
    assert a.calls == 1 and b.calls == 0
    assert response.text == "offline answer"


def test_only_a_last_resort_is_not_a_fallback(clock: FakeClock) -> None:
    response = _router([], _offline(clock), clock).complete(make_request())
    assert response.mode == "single" and response.text == "offline answer"


def test_unexpected_adapter_exception_fails_over(clock: FakeClock) -> None:
    a, b = _models(clock, [KeyError("bug")], ["from b"])
    response = _router([a, b], _offline(clock), clock).complete(make_request())
    assert response.text == "from b"
    assert response.calls[0].outcome == "error" and "KeyError" in (response.calls[0].error or "")


def test_perspective_is_recorded_on_failed_attempts(clock: FakeClock) -> None:
    a, b = _models(clock, [ModelBadResponse("empty")], ["ok"])
    response = _router([a, b], _offline(clock), clock).complete(
        make_request(perspective="clinician")
    )
    assert [c.perspective for c in response.calls] == ["clinician", "clinician"]


def test_router_is_a_chat_model_and_thread_safe() -> None:
    a = ScriptedModel("p0", "m0", [ModelUnavailable("500", status=500, retryable=False)])
    b = ScriptedModel("p1", "m1", ["from b"])
    router = Router([a, b], ScriptedModel("offline", "kb", ["offline"]), sleep=lambda s: None)
    assert isinstance(router, ChatModel)
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            text = router.complete(make_request()).text
            with lock:
                results.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["from b"] * 160
    assert router.cooling_down(a)
    assert a.calls < 160, "cooldown kicked in under concurrency"


# ---------------------------------------------------------------------------- over real HTTP


def test_router_over_http_retries_5xx_then_fails_over_on_an_empty_200(
    fake_server: FakeLLMServer, http_client: httpx.Client
) -> None:
    fake_server.set_rules(
        [
            Rule(fault="500", times=1),
            Rule(fault="empty", times=1),
            Rule(fault="in_body_error", times=1),
            Rule(reply="finally"),
        ]
    )
    a, b, c = (
        OpenAICompatModel(
            name, base_url=fake_server.base_url, api_key="k", client=http_client, provider="vllm"
        )
        for name in ("a", "b", "c")
    )
    sleeps: list[float] = []
    router = Router([a, b, c], ScriptedModel("offline", "kb", ["offline"]), sleep=sleeps.append)
    response = router.complete(make_request(deadline=time.monotonic() + 10))
    assert response.text == "finally" and response.mode == "fallback"
    assert [(x.model, x.outcome) for x in response.calls] == [
        ("a", "unavailable"),  # 500: retried after a backoff
        ("a", "bad_response"),  # empty choices: fail over, no retry
        ("b", "bad_response"),  # a 200 carrying an in-body error
        ("c", "ok"),
    ]
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5


def test_fake_server_malformed_body_is_a_bad_response_over_http(
    fake_server: FakeLLMServer, http_client: httpx.Client
) -> None:
    fake_server.set_rules([Rule(fault="malformed")])
    model = OpenAICompatModel("m", base_url=fake_server.base_url, api_key=None, client=http_client)
    with pytest.raises(ModelBadResponse):
        model.complete(make_request())


def test_router_over_http_times_out_a_hang_and_answers_from_the_last_resort(
    fake_server: FakeLLMServer, http_client: httpx.Client
) -> None:
    fake_server.set_rules([Rule(fault="hang", hang_s=5)])
    hanging = OpenAICompatModel(
        "slow", base_url=fake_server.base_url, api_key="k", client=http_client, provider="vllm"
    )
    router = Router([hanging], ScriptedModel("offline", "kb", ["offline answer"]))
    started = time.monotonic()
    response = router.complete(make_request(deadline=started + 0.3))
    assert time.monotonic() - started < 1.5
    assert response.text == "offline answer" and response.mode == "fallback"
    assert response.calls[0].outcome == "timeout"
