"""The `healthbot` command: serve, chat, db, eval, alerts."""

from __future__ import annotations

import json
import secrets
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click
import httpx

from bot.config import ConfigError, Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def main() -> None:
    """healthbot: a careful WhatsApp health assistant."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="gunicorn processes")
@click.option("--threads", default=8, show_default=True, type=int, help="threads per process")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Run the bot's web server (gunicorn) on the configured database and model."""
    from gunicorn.app.base import BaseApplication

    from bot.app import create_app

    settings = _settings()
    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    services = app.extensions["bot"]
    if services.dev_token:
        banner = "!" * 78
        click.secho(
            f"{banner}\n  DEVELOPMENT MODE: TWILIO_AUTH_TOKEN is not set.\n"
            f"  Requests must be signed with the local secret in {settings.dev_token_path()}\n"
            f"  (`healthbot chat` does this). Real Twilio traffic will be refused (403).\n{banner}",
            fg="yellow", err=True,
        )
    click.echo(
        f"healthbot on http://{host}:{port}  database={_redact(settings.sqlalchemy_url)}  "
        f"model={settings.model}  webhook=POST /twilio/whatsapp  public={settings.public_url}",
        err=True,
    )

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 60)

        def load(self) -> Any:
            return app

    try:
        _Server().run()
    finally:
        services.close()


@main.command()
@click.option("--url", default=None, help="webhook URL to post to [HEALTHBOT_PUBLIC_URL/twilio/whatsapp]")
@click.option("--sign-url", default=None, help="URL to sign, if the server sees another [--url]")
@click.option("--from", "sender", default="whatsapp:+15555550123", show_default=True)
@click.option("--name", default="Test User", show_default=True, help="WhatsApp profile name")
@click.option("--message", "-m", default=None, help="send one message, print the reply, exit")
def chat(url: str | None, sign_url: str | None, sender: str, name: str,
         message: str | None) -> None:
    """Chat with a running bot from the terminal, signing each request exactly as Twilio does."""
    from bot.webhook.signature import sign

    settings = _settings()
    try:
        token, _dev = settings.webhook_auth_token(create=False)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    url = url or f"{settings.public_url}/twilio/whatsapp"
    signed_url = sign_url or url
    if not sender.startswith("whatsapp:"):
        sender = "whatsapp:" + sender
    account = settings.twilio_account_sid or "AC" + "0" * 32

    def send(text: str) -> list[str]:
        form = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": account,
            "From": sender,
            "To": settings.twilio_whatsapp_from or "whatsapp:+14155238886",
            "Body": text,
            "NumMedia": "0",
            "ProfileName": name,
            "WaId": sender.removeprefix("whatsapp:+"),
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        headers = {"X-Twilio-Signature": sign(token, signed_url, form)}
        try:
            response = httpx.post(url, data=form, headers=headers, timeout=60.0)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {url}: {exc}") from None
        if response.status_code != 200:
            raise click.ClickException(
                f"the bot answered HTTP {response.status_code}: {response.text.strip()[:300]}"
            )
        return parse_twiml(response.text)

    if message is not None:
        for bubble in send(message):
            click.echo(bubble)
            click.echo()
        return
    click.echo(f"Chatting with {url} as {sender}. Empty line or Ctrl-D to quit.")
    while True:
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if not text.strip():
            return
        for bubble in send(text):
            click.echo(click.style("bot> ", fg="green") + bubble.replace("\n", "\n     "))


def parse_twiml(xml_text: str) -> list[str]:
    """Return the bodies of the <Message> elements of a TwiML response."""
    root = ET.fromstring(xml_text)  # noqa: S314 - our own server's answer, not untrusted input
    bubbles = []
    for element in root.iter("Message"):
        body = element.find("Body")
        bubbles.append((body.text if body is not None else element.text) or "")
    return bubbles


@main.group()
def db() -> None:
    """Database: migrations and recovery."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations to DATABASE_URL."""
    from bot.store import migrate

    settings = _settings()
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.sqlalchemy_url, revision)
    click.echo(f"database at {revision}: {_redact(settings.sqlalchemy_url)}")


@db.command("replay-spool")
def db_replay_spool() -> None:
    """Store the messages that were spooled while the database was down."""
    from pydantic import ValidationError

    from bot.pipeline import record_spooled
    from bot.schemas import InboundMessage
    from bot.services import build_services
    from bot.webhook.spool import spooled

    settings = _settings()
    services = build_services(settings, background=False)
    stored = skipped = 0
    try:
        for path, form in spooled(settings.instance_dir):
            try:
                msg = InboundMessage.model_validate(form)
            except ValidationError as exc:
                click.echo(f"skipped {path.name}: {exc.errors()[0]['msg']}", err=True)
                skipped += 1
                continue
            if record_spooled(msg, uow=services.uow(), notify_staff=services.notify_staff):
                stored += 1
            path.unlink()
        services.alerts.retry_due()  # the staff alerts the replay recorded go out now
    finally:
        services.close()
    click.echo(f"replayed spool: {stored} stored, {skipped} skipped")


@main.command("eval")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def eval_(path: Path, as_json: bool) -> None:
    """Measure the triage rules on a labelled JSONL file."""
    from safety.evaluation import evaluate, format_report, load_cases

    result = evaluate(load_cases(path))
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(format_report(result))


@main.group()
def alerts() -> None:
    """Staff alerts."""


@alerts.command("retry")
def alerts_retry() -> None:
    """Send every pending staff alert whose next try is due."""
    from bot.services import build_services

    services = build_services(_settings(), background=False)
    try:
        count = services.alerts.retry_due()
    finally:
        services.close()
    click.echo(f"tried {count} pending alert(s)")


def _redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
