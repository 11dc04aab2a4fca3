"""`healthbot worker` as its own process: webhook -> Redis -> worker -> model server -> Twilio mock.

Everything real except the far ends: the model is bench/fake_openai_server.py over HTTP, Twilio is
Prism serving Twilio's OpenAPI spec. The web side runs in this process; the worker is started
exactly as in production, configured only through its environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench.fake_openai_server import FakeLLMServer, Rule
from bot import i18n
from bot.config import Settings
from bot.store.models import Message
from tests.delivery.conftest import REDIS_URL, RedisSpace
from tests.helpers import ACCOUNT_SID, PUBLIC_URL, TEST_TOKEN, signed_post, twilio_form

pytestmark = [pytest.mark.redis, pytest.mark.prism]


def test_a_worker_process_sends_the_queued_answer(tmp_path: Path, redis_space: RedisSpace,
                                                  prism_url: str) -> None:
    from bot.app import create_app

    with FakeLLMServer([Rule(reply="Rest and drink plenty of fluids.")]) as server:
        env: dict[str, Any] = {
            "HEALTHBOT_INSTANCE_DIR": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'healthbot.db'}",
            "REDIS_URL": REDIS_URL,
            "HEALTHBOT_QUEUE": redis_space.token,  # our own queue and keys in the shared Redis
            "HEALTHBOT_MODEL": "openai/fake-model",
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "test-key",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TEST_TOKEN,
            "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
            "TWILIO_API_BASE_URL": prism_url,
            "HEALTHBOT_PUBLIC_URL": PUBLIC_URL,
        }
        app = create_app(Settings(_env_file=None, **env), upgrade_db=True)  # type: ignore[call-arg]
        try:
            response = signed_post(app.test_client(), twilio_form("what helps a sore throat?"))
            replies = [m.text for m in ET.fromstring(response.get_data(as_text=True)).iter(
                "Message")]
            assert replies[-1] == i18n.t("answer_pending", "en")  # queued, not answered inline
            worker = subprocess.run(
                [sys.executable, "-m", "bot", "worker", "--burst"],
                env={"PATH": os.environ.get("PATH", ""), **env}, cwd=tmp_path,
                capture_output=True, text=True, timeout=60, check=False,
            )
            assert worker.returncode == 0, worker.stderr[-3000:]
            with app.extensions["bot"].uow() as uow:
                answers = list(uow.session.scalars(
                    select(Message).where(Message.idempotency_key.is_not(None))))
            assert answers, worker.stderr[-3000:]
            assert all(m.twilio_sid and m.twilio_sid.startswith("SM") for m in answers)
            assert all(m.status == "queued" for m in answers)  # Prism's example status
            assert "fluids" in answers[0].body
            assert server.seen, "the worker asked the model server"
        finally:
            app.extensions["bot"].close()
