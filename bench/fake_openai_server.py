"""A small local fake LLM server (OpenAI Chat Completions, plus Anthropic and Gemini shapes).

Runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (port 0 by default) in a background thread.
Each request is answered by the first `Rule` whose `match` is a substring of the request's system
prompt (e.g. "Role: triage_nurse"), with a configurable latency, reply and fault
(429 with retry-after, 500/503/529, empty choices, malformed JSON, in-body error, hang).
Used by tests (end-to-end over real HTTP) and by bench/bench_contemplate.py.

    rules = [Rule(match="Role: clinician", latency_s=1.0, reply='{"urgency": "routine"}')]
    with FakeLLMServer(rules) as s:
        OpenAICompatModel("fake", base_url=s.base_url, api_key="k", client=client)

Standalone: `python bench/fake_openai_server.py --config rules.json --port 8099`.
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAULTS = ("429", "500", "503", "529", "empty", "malformed", "in_body_error", "hang", "no_usage")


@dataclass
class Rule:
    """How to answer the requests whose system prompt contains `match` (None matches all)."""

    match: str | None = None
    latency_s: float = 0.0
    reply: str = "This is a fake reply."
    fault: str | None = None  # one of FAULTS, or None for a normal answer
    retry_after: float | None = None  # seconds, sent with "429" (header, or RetryInfo for Gemini)
    times: int | None = None  # apply at most this many times, then fall through to later rules
    hang_s: float = 30.0  # how long a "hang" lasts at most (the server's stop ends it sooner)
    used: int = field(default=0, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        """Build a rule from a JSON object with the same field names."""
        allowed = {"match", "latency_s", "reply", "fault", "retry_after", "times", "hang_s"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown rule fields: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: Any
    system: str
    received_at: float


class FakeLLMServer:
    """The fake server; use as a context manager or call start()/stop()."""

    def __init__(self, rules: Sequence[Rule] = (), *, host: str = "127.0.0.1", port: int = 0):
        self.rules: list[Rule] = list(rules)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        # A short poll interval so stop() returns quickly (tests start and stop many servers).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-llm-server",
            daemon=True,
        )
        self._started = False

    @classmethod
    def from_config(cls, config: dict[str, Any] | str | Path, **kwargs: Any) -> FakeLLMServer:
        """Build from {"rules": [...]} (a dict, or a path to a JSON file)."""
        data: dict[str, Any] = (
            config
            if isinstance(config, dict)
            else json.loads(Path(config).read_text(encoding="utf-8"))
        )
        return cls([Rule.from_dict(r) for r in data.get("rules", [])], **kwargs)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        """http://127.0.0.1:PORT (Anthropic adapters append /v1/messages)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in /v1."""
        return self.root_url + "/v1"

    @property
    def gemini_base_url(self) -> str:
        return self.root_url + "/v1beta"

    def start(self) -> FakeLLMServer:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # ends hangs and latencies early
        if self._started:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_rules(self, rules: Sequence[Rule]) -> None:
        with self._lock:
            self.rules = list(rules)

    def _pick(self, system: str) -> Rule:
        with self._lock:
            for rule in self.rules:
                if rule.match is not None and rule.match not in system:
                    continue
                if rule.times is not None and rule.used >= rule.times:
                    continue
                rule.used += 1
                return rule
        return Rule()

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when the server is stopping (answer quickly)."""
        return self._stop.wait(seconds) if seconds > 0 else self._stop.is_set()


# ---------------------------------------------------------------------------- wire formats


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _system_of(kind: str, body: Any) -> tuple[str, str]:
    """(system prompt, all prompt text) of a request in the given API shape."""
    if not isinstance(body, dict):
        return "", ""
    if kind == "openai":
        messages = body.get("messages") or []
        system = " ".join(
            str(m.get("content", ""))
            for m in messages
            if isinstance(m, dict) and m.get("role") == "system"
        )
        return system, " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    if kind == "anthropic":
        system = body.get("system") or ""
        if isinstance(system, list):
            system = " ".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
        texts = [
            str(m.get("content", "")) for m in body.get("messages") or [] if isinstance(m, dict)
        ]
        return str(system), " ".join([str(system), *texts])
    instruction = body.get("systemInstruction") or {}
    system = " ".join(str(p.get("text", "")) for p in instruction.get("parts") or [])
    texts = [
        str(p.get("text", ""))
        for c in body.get("contents") or []
        for p in (c.get("parts") or [])
        if isinstance(p, dict)
    ]
    return system, " ".join([system, *texts])


def _success(kind: str, rule: Rule, model: str, prompt: str) -> dict[str, Any]:
    reply = rule.reply
    p_tok, c_tok = _tokens(prompt), _tokens(reply)
    if kind == "openai":
        body: dict[str, Any] = {
            "id": f"chatcmpl-fake{int(time.time() * 1000)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                }
            ],
        }
        if rule.fault == "empty":
            body["choices"] = []
        if rule.fault != "no_usage":
            body["usage"] = {
                "prompt_tokens": p_tok,
                "completion_tokens": c_tok,
                "total_tokens": p_tok + c_tok,
            }
        return body
    if kind == "anthropic":
        body = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [] if rule.fault == "empty" else [{"type": "text", "text": reply}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
        }
        if rule.fault != "no_usage":
            body["usage"] = {
                "input_tokens": p_tok,
                "output_tokens": c_tok,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            }
        return body
    body = {
        "candidates": []
        if rule.fault == "empty"
        else [
            {
                "content": {"role": "model", "parts": [{"text": reply}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "modelVersion": model,
        "responseId": "fake-response-id",
    }
    if rule.fault != "no_usage":
        body["usageMetadata"] = {
            "promptTokenCount": p_tok,
            "candidatesTokenCount": c_tok,
            "totalTokenCount": p_tok + c_tok,
        }
    return body


def _error(kind: str, status: int, rule: Rule) -> tuple[dict[str, Any], dict[str, str]]:
    headers: dict[str, str] = {}
    if rule.retry_after is not None and kind != "gemini":
        headers["retry-after"] = f"{rule.retry_after:g}"
    if kind == "openai":
        code = "rate_limit_exceeded" if status == 429 else "server_error"
        return {
            "error": {"message": f"fake {status}", "type": code, "param": None, "code": code}
        }, headers
    if kind == "anthropic":
        etype = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": etype, "message": f"fake {status}"}}, headers
    status_word = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(status, "INTERNAL")
    err: dict[str, Any] = {"code": status, "message": f"fake {status}", "status": status_word}
    if status == 429 and rule.retry_after is not None:
        err["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{rule.retry_after:g}s",
            }
        ]
    return {"error": err}, headers


def _make_handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like real providers

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and benchmarks print their own output

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.send_header("x-request-id", "req_fake")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout): nothing to do

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                body = {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
                self._send(200, json.dumps(body).encode())
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"null")
            except json.JSONDecodeError:
                self._send(400, b'{"error": {"message": "bad json"}}')
                return
            path = self.path.split("?", 1)[0]
            if path.endswith("/chat/completions"):
                kind = "openai"
            elif path.endswith("/messages"):
                kind = "anthropic"
            elif path.endswith(":generateContent"):
                kind = "gemini"
            else:
                self._send(404, b'{"error": {"message": "unknown path"}}')
                return
            system, prompt = _system_of(kind, body)
            server._record(
                Seen(
                    path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    system,
                    time.monotonic(),
                )
            )
            rule = server._pick(system)
            if rule.fault == "hang":
                server.wait(rule.hang_s)
            elif server.wait(rule.latency_s):
                pass  # stopping: answer at once
            model = body.get("model", "") if isinstance(body, dict) else ""
            if kind == "gemini":
                model = path.rsplit("/", 1)[-1].split(":", 1)[0]
            if rule.fault in ("429", "500", "503", "529"):
                payload, headers = _error(kind, int(rule.fault), rule)
                self._send(int(rule.fault), json.dumps(payload).encode(), headers)
            elif rule.fault == "malformed":
                self._send(200, b'{"choices": [ this is not json')
            elif rule.fault == "in_body_error":
                payload = {"error": {"message": "provider failed mid-response", "code": 502}}
                self._send(200, json.dumps(payload).encode())
            else:
                self._send(200, json.dumps(_success(kind, rule, str(model), prompt)).encode())

    return Handler


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake server in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help='JSON file: {"rules": [{"match": ..., ...}]}')
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args(argv)
    server = (
        FakeLLMServer.from_config(args.config, port=args.port)
        if args.config
        else FakeLLMServer(port=args.port)
    )
    with server:
        print(f"fake LLM server on {server.base_url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
