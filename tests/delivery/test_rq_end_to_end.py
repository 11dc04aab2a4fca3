"""The deployment shape: web app + Redis + several RQ workers + PostgreSQL (and SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot import jobs
from bot.tasks import RetryPolicy, RqExecutor
from tests.delivery.conftest import RedisSpace
from tests.delivery.delivery_fakes import FakeMessenger, SlowModel
from tests.delivery.test_tasks import run_workers
from tests.helpers import make_settings, signed_post, twilio_form

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, module_postgres_url: str,
          module_redis_space: RedisSpace
          ) -> Iterator[tuple[Any, SlowModel, FakeMessenger, RqExecutor]]:
    from bot.app import create_app

    model = SlowModel(delays={"one": 0.4, "two": 0.1})
    messenger = FakeMessenger()
    settings = make_settings(tmp_path_factory.mktemp("rq"), module_postgres_url,
                             HEALTHBOT_MODEL="openai/slow-model",
                             TWILIO_WHATSAPP_FROM="whatsapp:+14155238886")
    app = create_app(settings, chat_model=model, messenger=messenger, upgrade_db=True)
    svc = app.extensions["bot"]
    svc.tasks.close()
    space = module_redis_space
    executor = RqExecutor(space.conn, queue_name=f"q-{space.token}", prefix=space.token,
                          policy=RetryPolicy(max=2, intervals=(0,)))
    svc.tasks = executor
    # The workers are threads of this process: they run jobs with the app's Services, as a
    # `healthbot worker` process runs them with its own.
    jobs.bind(svc)
    try:
        yield app, model, messenger, executor
    finally:
        jobs.bind(None)
        svc.tasks = None
        svc.close()


def test_three_workers_answer_two_contacts_in_order(
    stack: tuple[Any, SlowModel, FakeMessenger, RqExecutor], module_redis_space: RedisSpace
) -> None:
    app, model, messenger, executor = stack
    client = app.test_client()
    first, second = "whatsapp:+254712345678", "whatsapp:+5511900000001"
    for word in ("one", "two", "three"):
        for sender in (first, second):
            assert signed_post(client, twilio_form(f"question {word}", sender=sender)
                               ).status_code == 200

    def answered() -> bool:
        return sum(b.startswith("Answer about") for b in messenger.bodies()) == 6

    run_workers(module_redis_space, executor, 3, answered)
    for sender in (first, second):
        got = [b.split("]")[0] for b in messenger.bodies(sender) if b.startswith("Answer")]
        assert got == ["Answer about [question one", "Answer about [question two",
                       "Answer about [question three"], sender
    assert len(model.calls) == 6
    assert executor.failed_jobs() == []


def test_failed_jobs_are_listed_for_staff(
    stack: tuple[Any, SlowModel, FakeMessenger, RqExecutor], module_redis_space: RedisSpace
) -> None:
    app, _model, messenger, executor = stack
    messenger.failures = [RuntimeError("Twilio is down")] * 3  # every try fails
    signed_post(app.test_client(), twilio_form("question about a rash",
                                               sender="whatsapp:+254733000111"))
    run_workers(module_redis_space, executor, 2, lambda: bool(executor.failed_jobs()))
    (failed,) = app.extensions["bot"].failed_jobs()
    assert failed.name == "answer" and failed.attempts == 3
    assert "Twilio is down" in failed.error
    assert app.test_client().get("/admin/api/failed-jobs").status_code == 401
