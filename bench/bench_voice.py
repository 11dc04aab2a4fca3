"""Time from a voice note to its answer, over real HTTP, with a fake transcriber.

The real app (SQLite, in-process job threads, the offline model) receives a signed voice note;
the audio is real speech (espeak-ng, OGG/Opus) on a fake Twilio media endpoint and a fake
OpenAI-compatible transcription server answers at once (tests/voice/voice_fakes.py), so what is
measured is the bot's own path: webhook, job, media fetch, upload, triage, answer, send.
Prints the median and p95 over ROUNDS voice notes, for an emergency and a routine question.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.delivery.delivery_fakes import FakeMessenger  # noqa: E402
from tests.helpers import make_settings, signed_post, twilio_form  # noqa: E402
from tests.voice.voice_fakes import API_KEY, FakeVoiceServer  # noqa: E402

ROUNDS = 20
SAID = {"emergency": "my baby is not breathing properly",
        "routine": "my child has diarrhoea, what should I do?"}


def main() -> int:
    """Run the benchmark and print the figures."""
    from bot.app import create_app

    server = FakeVoiceServer()
    messenger = FakeMessenger()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(
            Path(tmp), None, HEALTHBOT_TRANSCRIBE_MODEL="openai/whisper-1",
            OPENAI_BASE_URL=f"{server.url}/v1", OPENAI_API_KEY=API_KEY,
            TWILIO_API_BASE_URL=server.url, TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
            HEALTHBOT_LOG_LEVEL="WARNING")
        app = create_app(settings, messenger=messenger, upgrade_db=True)
        client = app.test_client()
        services = app.extensions["bot"]
        for kind, said in SAID.items():
            url = server.voice_note(said, "en")
            times: list[float] = []
            for n in range(ROUNDS + 1):
                sender = f"whatsapp:+44770{n:06d}{len(kind)}"
                form = twilio_form("", sender=sender, NumMedia="1", MediaUrl0=url,
                                   MediaContentType0="audio/ogg")
                start = time.perf_counter()
                signed_post(client, form)
                while len(messenger.bodies(sender)) < (1 if kind == "emergency" else 2):
                    time.sleep(0.002)
                if n:  # the first round warms the encoder and the rules
                    times.append((time.perf_counter() - start) * 1000)
            assert services.tasks.wait_idle(30)
            times.sort()
            print(f"{kind:<10} voice note -> answer sent: median {statistics.median(times):.0f} ms,"
                  f" p95 {times[int(len(times) * 0.95) - 1]:.0f} ms ({ROUNDS} notes)")
        services.close()
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
