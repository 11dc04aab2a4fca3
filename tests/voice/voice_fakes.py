"""Real speech for the voice tests, and one local HTTP server that plays Twilio and a speech API.

- `speak(text, voice)`: espeak-ng says it, ffmpeg encodes it as WhatsApp does (OGG/Opus, mono,
  16 kbit/s, VoIP tuning): real audio, not bytes pretending to be audio.
- `FakeVoiceServer`: a threaded werkzeug server with
  * Twilio's media resource `GET /2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}` that wants
    the account's Basic auth and redirects to a signed `/cdn/...` URL, as Twilio does;
  * an OpenAI-compatible `POST /v1/audio/transcriptions` that checks the bearer key and that the
    multipart upload is a valid OGG/Opus file (magic bytes, OpusHead, ffprobe's codec and
    duration), then answers what the recording says (registered with the audio), or, with
    `recognise=True`, what pocketsphinx really hears in it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, redirect, request
from werkzeug.serving import make_server

from tests.helpers import ACCOUNT_SID, TEST_TOKEN

API_KEY = "sk-test-voice-0123456789"
# What Whisper's verbose_json says for `language`: English names, lower case.
WHISPER_NAMES = {"en": "english", "es": "spanish", "pt": "portuguese", "fr": "french",
                 "sw": "swahili", "hi": "hindi"}


def tools_missing() -> list[str]:
    return [tool for tool in ("espeak-ng", "ffmpeg", "ffprobe") if shutil.which(tool) is None]


@cache
def speak(text: str, voice: str) -> bytes:
    """OGG/Opus bytes of espeak-ng saying `text` with `voice` ("en", "sw", "hi"...)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav, ogg = Path(tmp) / "say.wav", Path(tmp) / "say.ogg"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(wav), text],
                       check=True, capture_output=True)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-ac", "1",
                        "-c:a", "libopus", "-b:a", "16k", "-application", "voip", str(ogg)],
                       check=True, capture_output=True)
        return ogg.read_bytes()


def ogg_opus_seconds(data: bytes) -> float:
    """The duration of a valid OGG/Opus file, or raise ValueError saying what is wrong."""
    if not data.startswith(b"OggS"):
        raise ValueError("not an Ogg stream (no OggS capture pattern)")
    if b"OpusHead" not in data[:200]:
        raise ValueError("the first Ogg page has no OpusHead: not Opus")
    with tempfile.NamedTemporaryFile(suffix=".ogg") as handle:
        handle.write(data)
        handle.flush()
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration",
             "-of", "json", handle.name], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise ValueError(f"ffprobe refused it: {probe.stderr.strip()[:200]}")
    info = json.loads(probe.stdout)
    codecs = [s.get("codec_name") for s in info.get("streams", [])]
    if codecs != ["opus"]:
        raise ValueError(f"streams are {codecs}, not one Opus stream")
    return float(info["format"]["duration"])


def recognise(data: bytes) -> str:
    """What pocketsphinx (US English model shipped in its wheel) hears in OGG/Opus audio."""
    from pocketsphinx import Decoder

    pcm = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", "pipe:0", "-ac", "1", "-ar",
                          "16000", "-f", "s16le", "pipe:1"], input=data, capture_output=True,
                         check=True).stdout
    decoder = Decoder(samprate=16000)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


@dataclass
class Upload:
    model: str
    language: str | None
    response_format: str
    filename: str
    content_type: str
    seconds: float


@dataclass
class FakeVoiceServer:
    recognise: bool = False
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # ME sid -> (data, type)
    transcripts: dict[str, tuple[str, str]] = field(default_factory=dict)  # sha256 -> (text, lang)
    uploads: list[Upload] = field(default_factory=list)
    media_requests: list[tuple[str, bool]] = field(default_factory=list)  # (path, had auth)
    failures: list[int] = field(default_factory=list)  # HTTP statuses to answer first
    refused: list[str] = field(default_factory=list)  # why uploads were refused
    chats: list[dict[str, Any]] = field(default_factory=list)  # chat completion bodies
    chat_reply: str = "A chat reply."

    def __post_init__(self) -> None:
        self.app = self._build()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()

    def voice_note(self, text: str, voice: str, *, language: str | None = None) -> str:
        """Record `text` spoken by espeak-ng, serve it as Twilio media; return its MediaUrl."""
        data = speak(text, voice)
        self.transcripts[hashlib.sha256(data).hexdigest()] = (text, language or voice)
        sid = "ME" + uuid.uuid4().hex
        self.media[sid] = (data, "audio/ogg")
        return self.media_url(sid)

    def photo(self, colour: str = "red") -> tuple[str, bytes]:
        """A real JPEG (ffmpeg draws a 64x64 square) served as Twilio media: (MediaUrl, bytes)."""
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "photo.jpg"
            subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                            f"color=c={colour}:s=64x64", "-frames:v", "1", str(out)],
                           check=True, capture_output=True)
            data = out.read_bytes()
        sid = "ME" + uuid.uuid4().hex
        self.media[sid] = (data, "image/jpeg")
        return self.media_url(sid), data

    def media_url(self, sid: str) -> str:
        return (f"{self.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{uuid.uuid4().hex}"
                f"/Media/{sid}")

    def _build(self) -> Flask:
        app = Flask("fake-voice")

        @app.get("/2010-04-01/Accounts/<account>/Messages/<message>/Media/<sid>")
        def media(account: str, message: str, sid: str) -> Any:
            expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{TEST_TOKEN}".encode()).decode()
            authorised = request.headers.get("Authorization") == expected
            self.media_requests.append((request.path, authorised))
            if not authorised:
                return Response("auth required", 401, {"WWW-Authenticate": 'Basic realm="Twilio"'})
            if account != ACCOUNT_SID or sid not in self.media:
                return Response("not found", 404)
            return redirect(f"/cdn/{sid}?Expires=300&Signature={uuid.uuid4().hex}", code=307)

        @app.get("/cdn/<sid>")
        def cdn(sid: str) -> Any:
            self.media_requests.append((request.path, "Authorization" in request.headers))
            data, kind = self.media[sid]
            return Response(data, 200, {"Content-Type": kind})

        @app.post("/v1/chat/completions")
        def chat() -> Any:
            if request.headers.get("Authorization") != f"Bearer {API_KEY}":
                return _error(401, "Incorrect API key provided")
            self.chats.append(request.get_json())
            return {"id": "chatcmpl-1", "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": self.chat_reply}}],
                    "usage": {"prompt_tokens": 900, "completion_tokens": 60}}

        @app.post("/v1/audio/transcriptions")
        def transcriptions() -> Any:
            if request.headers.get("Authorization") != f"Bearer {API_KEY}":
                return _error(401, "Incorrect API key provided")
            if self.failures:
                return _error(self.failures.pop(0), "scripted failure")
            upload = request.files.get("file")
            if upload is None or "model" not in request.form:
                self.refused.append("no file or model")
                return _error(400, "file and model are required")
            data = upload.read()
            try:
                seconds = ogg_opus_seconds(data)
            except ValueError as exc:
                self.refused.append(str(exc))
                return _error(400, f"Invalid file format: {exc}")
            self.uploads.append(Upload(
                model=request.form["model"], language=request.form.get("language"),
                response_format=request.form.get("response_format", "json"),
                filename=upload.filename or "", content_type=upload.mimetype, seconds=seconds))
            if self.recognise:
                text, language = recognise(data), "en"
            else:
                text, language = self.transcripts.get(hashlib.sha256(data).hexdigest(), ("", "en"))
            body: dict[str, Any] = {"text": text}
            if request.form.get("response_format") == "verbose_json":
                body |= {"language": WHISPER_NAMES.get(language, language), "duration": seconds,
                         "task": "transcribe"}
            return body

        return app


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": {"message": message, "type": "invalid_request_error"}}),
                    status, {"Content-Type": "application/json"})
