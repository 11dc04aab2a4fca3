from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_are_the_embedded_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.sqlalchemy_url.startswith("sqlite:///")
    assert settings.sqlalchemy_url.endswith("instance/healthbot.db")
    assert settings.model == "offline"
    assert settings.mode == "single"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HEALTHBOT_PUBLIC_URL", "bot.example.org"),
        ("TWILIO_ACCOUNT_SID", "XX123"),
        ("TWILIO_WHATSAPP_FROM", "+14155238886"),
        ("DATABASE_URL", "not a url"),
        ("HEALTHBOT_MODEL", "gpt-4"),
        ("HEALTHBOT_MODE", "parallel"),
        ("HEALTHBOT_ANSWER_DEADLINE_S", "-3"),
    ],
)
def test_malformed_setting_is_one_clear_line(name: str, value: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert name in message
    assert "\n" not in message


def test_postgres_urls_get_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/healthbot")
    assert load_settings().sqlalchemy_url == "postgresql+psycopg://u:p@db/healthbot"


def test_dev_secret_fails_closed_and_is_kept(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHBOT_INSTANCE_DIR", str(tmp_path))
    settings = load_settings()
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        settings.webhook_auth_token(create=False)
    token, is_dev = settings.webhook_auth_token(create=True)
    assert is_dev and len(token) == 32
    assert settings.webhook_auth_token() == (token, True)
    assert (settings.dev_token_path().stat().st_mode & 0o777) == 0o600


def test_real_token_wins_over_the_dev_secret(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHBOT_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "real-token")
    assert load_settings().webhook_auth_token(create=True) == ("real-token", False)
    assert not (tmp_path / "dev_twilio_auth_token").exists()


def test_secrets_are_not_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "super-secret-value")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-key")
    text = repr(load_settings())
    assert "super-secret-value" not in text and "sk-secret-key" not in text
