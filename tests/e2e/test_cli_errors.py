"""Errors a newcomer meets say what to do next, in one line (no traceback, no gunicorn noise)."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HEALTHBOT_", "TWILIO_", "DATABASE_URL", "OPENAI_", "REDIS_URL"))}
    env.update(extra)
    return env


def _run(tmp_path: Path, *args: str, timeout: float = 120, **env: str) -> tuple[int, list[str]]:
    result = subprocess.run([str(BIN / "healthbot"), *args], cwd=tmp_path, env=_env(**env),
                            capture_output=True, text=True, timeout=timeout, check=False)
    return result.returncode, [line for line in result.stderr.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve", "--port", "0"]])
def test_a_sqlite_path_in_a_missing_folder(tmp_path: Path, command: list[str]) -> None:
    code, lines = _run(tmp_path, *command,
                       DATABASE_URL=f"sqlite:///{tmp_path}/no/such/folder/bot.db")
    assert code != 0
    assert len(lines) == 1, lines
    assert "does not exist" in lines[0] and "DATABASE_URL" in lines[0]


def test_an_unsupported_database_driver(tmp_path: Path) -> None:
    code, lines = _run(tmp_path, "db", "upgrade", DATABASE_URL="mysql://bot@localhost/healthbot")
    assert code != 0
    assert len(lines) == 1, lines
    assert "DATABASE_URL" in lines[0] and "postgresql://" in lines[0] and "sqlite" in lines[0]


@pytest.mark.postgres
def test_an_unmigrated_database_names_the_command(tmp_path: Path, postgres_url: str) -> None:
    for args in (["serve", "--port", str(_free_port())], ["staff", "list"]):
        code, lines = _run(tmp_path, *args, DATABASE_URL=postgres_url)
        assert code != 0
        assert len(lines) == 1, lines
        assert "healthbot db upgrade" in lines[0]


def test_a_taken_port_says_use_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, lines = _run(tmp_path, "serve", "--port", str(port), timeout=60)
    assert code != 0
    assert len(lines) == 1, lines
    assert "already in use" in lines[0] and "--port" in lines[0]


def test_chat_with_the_server_down_says_start_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/twilio/whatsapp"
    code, lines = _run(tmp_path, "chat", "-m", "hi", "--url", url, TWILIO_AUTH_TOKEN="secret")
    assert code != 0
    assert len(lines) == 1, lines
    assert "healthbot serve" in lines[0] and url in lines[0]


class _Refuses(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"invalid or missing X-Twilio-Signature\n"
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/twilio/whatsapp"
    finally:
        server.shutdown()
        server.server_close()


def test_chat_refused_with_403_names_the_token_and_url(tmp_path: Path,
                                                       refusing_server: str) -> None:
    code, lines = _run(tmp_path, "chat", "-m", "hi", "--url", refusing_server,
                       TWILIO_AUTH_TOKEN="not-the-servers-token")
    assert code != 0
    assert len(lines) == 1, lines
    line = lines[0]
    assert "403" in line and "TWILIO_AUTH_TOKEN" in line and refusing_server in line
    assert "HEALTHBOT_PUBLIC_URL" in line and "--sign-url" in line
    # With the development secret, the message points at its file instead.
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "dev_twilio_auth_token").write_text("devsecret\n")
    code, lines = _run(tmp_path, "chat", "-m", "hi", "--url", refusing_server)
    assert code != 0 and len(lines) == 1 and "dev_twilio_auth_token" in lines[0]
