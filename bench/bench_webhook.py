"""Benchmark: how fast the webhook answers Twilio while the model takes 10 s.

The real app (SQLite in a temporary folder, in-process job threads) answers signed webhook POSTs;
the model is the OpenAI-compatible adapter over real HTTP against bench/fake_openai_server.py,
answering after `--model-delay` seconds; sending is a recording messenger (no network). It prints
the webhook's time to answer (what Twilio's 15 s timeout sees), then the time until each answer
was handed to the messenger, then, for contrast, one inline answer (the old path).

Run: `.venv/bin/python bench/bench_webhook.py [--messages 8] [--model-delay 10]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fake_openai_server import FakeLLMServer, Rule
from bot.config import Settings
from bot.outbound import Template
from bot.webhook.signature import sign

TOKEN = "bench-auth-token"
PUBLIC = "https://bot.example.org"
ACCOUNT = "AC" + "1" * 32


class RecordingMessenger:
    """A Messenger that takes `latency_s` per message (like Twilio's API) and records the time."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.sent: list[tuple[float, str, str, str]] = []  # (monotonic time, to, body, sid)
        self._lock = threading.Lock()

    def send_text(self, to: str, body: str, *, status_callback: str | None) -> tuple[str, str]:
        time.sleep(self.latency_s)
        sid = "SM" + uuid.uuid4().hex
        with self._lock:
            self.sent.append((time.monotonic(), to, body, sid))
        return sid, "queued"

    def send_template(self, to: str, template: Template, *,
                      status_callback: str | None) -> tuple[str, str]:
        return self.send_text(to, template.variables.get("1", ""), status_callback=None)


def settings(folder: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "HEALTHBOT_INSTANCE_DIR": folder,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "HEALTHBOT_PUBLIC_URL": PUBLIC,
        "HEALTHBOT_MODEL": "openai/fake-slow",
        "HEALTHBOT_LOG_LEVEL": "WARNING",
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def form(text: str, sender: str) -> dict[str, str]:
    sid = "SM" + uuid.uuid4().hex
    return {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": ACCOUNT, "From": sender,
            "To": "whatsapp:+14155238886", "Body": text, "NumMedia": "0", "ProfileName": "Bench",
            "WaId": sender.removeprefix("whatsapp:+"), "SmsStatus": "received",
            "ApiVersion": "2010-04-01"}


def post(client: Any, data: dict[str, str]) -> float:
    """POST a signed webhook; return the seconds until the TwiML came back."""
    signature = sign(TOKEN, PUBLIC + "/twilio/whatsapp", data)
    started = time.monotonic()
    response = client.post("/twilio/whatsapp", data=data, headers={"X-Twilio-Signature": signature})
    elapsed = time.monotonic() - started
    if response.status_code != 200:
        raise SystemExit(f"webhook answered {response.status_code}: {response.get_data(True)}")
    return elapsed


def sender(index: int) -> str:
    return f"whatsapp:+2547{index:08d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=8, help="contacts, one question each")
    parser.add_argument("--model-delay", type=float, default=10.0)
    parser.add_argument("--skip-inline", action="store_true", help="skip the inline contrast run")
    args = parser.parse_args()

    from bot.app import create_app
    from bot.llm.http import build_client
    from bot.llm.openai_compat import OpenAICompatModel

    rule = Rule(latency_s=args.model_delay, reply="Rest, drink plenty of fluids, and see a "
                "health worker if the fever lasts more than two days.")
    with FakeLLMServer([rule]) as server, tempfile.TemporaryDirectory() as tmp:
        http = build_client(timeout_s=args.model_delay + 20)
        model = OpenAICompatModel("fake-slow", base_url=server.base_url, api_key="k", client=http)
        messenger = RecordingMessenger(latency_s=0.05)
        app = create_app(settings(Path(tmp) / "deferred",
                                  HEALTHBOT_JOB_THREADS=max(args.messages, 1),
                                  HEALTHBOT_ANSWER_DEADLINE_S=args.model_delay + 15),
                         chat_model=model, messenger=messenger)
        services = app.extensions["bot"]
        client = app.test_client()
        posted: dict[str, float] = {}
        import safety

        safety.assess("warm up")  # the rules compile once per process, on first use
        # Each contact says hello first, so the timed message is an ordinary question.
        for i in range(args.messages):
            post(client, form("HELP", sender(i)))
        answers: list[float] = []
        for i in range(args.messages):
            posted[sender(i)] = time.monotonic()
            answers.append(post(client, form("My child has had a fever since yesterday, what "
                                             "should I do?", sender(i))))
        print(f"model answers after {args.model_delay:.1f} s; {args.messages} contacts, "
              f"{services.settings.job_threads} job threads (in-process executor)")
        print(f"webhook time to answer Twilio: median {statistics.median(answers) * 1000:.0f} ms, "
              f"max {max(answers) * 1000:.0f} ms (Twilio gives up at 15,000 ms)")
        deadline = time.monotonic() + args.model_delay * 3 + 30
        while len(messenger.sent) < args.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        delivered = [at - posted[to] for at, to, _body, _sid in messenger.sent if to in posted]
        print(f"answers handed to Twilio REST: {len(delivered)}/{args.messages}, "
              f"median {statistics.median(delivered):.2f} s, max {max(delivered):.2f} s "
              "after the person wrote")
        services.close()

        if not args.skip_inline:
            inline_app = create_app(settings(Path(tmp) / "inline", HEALTHBOT_ANSWER_DELIVERY=
                                             "inline",
                                             HEALTHBOT_ANSWER_DEADLINE_S=args.model_delay + 15),
                                    chat_model=model, messenger=RecordingMessenger())
            inline_client = inline_app.test_client()
            post(inline_client, form("HELP", sender(0)))
            took = post(inline_client, form("My child has had a fever, what should I do?",
                                            sender(0)))
            print(f"for contrast, the inline path: webhook answered after {took:.2f} s")
            inline_app.extensions["bot"].close()
        http.close()
    print(f"done at {dt.datetime.now(dt.UTC):%H:%M:%S} UTC")


if __name__ == "__main__":
    main()
