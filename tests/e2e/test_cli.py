"""The `healthbot` command as a newcomer runs it: serve on the embedded defaults, chat, db."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HEALTHBOT_", "TWILIO_", "DATABASE_URL", "OPENAI_", "REDIS_URL"))}
    env.update(extra)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`healthbot serve` on the embedded defaults (SQLite, offline model, no Twilio token)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env(tmp_path, HEALTHBOT_PUBLIC_URL=url)
    proc = subprocess.Popen([str(BIN / "healthbot"), "serve", "--port", str(port)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"serve exited: {proc.stdout.read() if proc.stdout else ''}")
                time.sleep(0.2)
        else:
            pytest.fail("serve did not become ready in 30 s")
        yield url, env
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
        # the loud development-secret warning was printed at start-up
        assert "DEVELOPMENT MODE" in output


def test_serve_then_chat_one_shot(served: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    _url, env = served
    result = subprocess.run(
        [str(BIN / "healthbot"), "chat", "--from", "whatsapp:+254712345678", "-m",
         "how do I make ORS for diarrhoea?"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "STOP" in result.stdout  # the welcome
    assert "sugar" in result.stdout.lower()
    assert (tmp_path / "instance" / "healthbot.db").exists()
    assert (tmp_path / "instance" / "dev_twilio_auth_token").exists()


def test_serve_refuses_unsigned_requests(served: tuple[str, dict[str, str]]) -> None:
    url, _ = served
    request = urllib.request.Request(f"{url}/twilio/whatsapp", method="POST",
                                     data=b"MessageSid=SM1&From=whatsapp%3A%2B15555550123&Body=hi")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    info.value.close()
    assert info.value.code == 403


def test_python_dash_m_bot_is_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], cwd=tmp_path,
                            env=_env(tmp_path), capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for command in ("serve", "chat", "db"):
        assert command in result.stdout


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "healthbot"), "db", "upgrade"], cwd=tmp_path,
                            env=_env(tmp_path), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "instance" / "healthbot.db").exists()


def test_malformed_setting_stops_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "healthbot"), "db", "upgrade"], cwd=tmp_path,
                            env=_env(tmp_path, HEALTHBOT_PUBLIC_URL="not-a-url"),
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "HEALTHBOT_PUBLIC_URL" in lines[0]


def test_chat_without_a_secret_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "healthbot"), "chat", "-m", "hi"], cwd=tmp_path,
                            env=_env(tmp_path), capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN" in result.stderr and "healthbot serve" in result.stderr
