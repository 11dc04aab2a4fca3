"""The `healthbot` command: serve, chat, db, eval, alerts, staff, retention."""

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
    if "public_url" not in settings.model_fields_set:
        # Unset, the URL Twilio (or `healthbot chat`) signs is the one this server listens on.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings = settings.model_copy(update={"public_url": f"http://{shown}:{port}"})
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
@click.option("--url", default=None,
              help="webhook URL to post to [HEALTHBOT_PUBLIC_URL/twilio/whatsapp]")
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


@main.command()
@click.option("--burst", is_flag=True, help="exit once the queue is empty")
def worker(burst: bool) -> None:
    """Run a queue worker: slow answers, staff replies and alerts, from Redis (REDIS_URL)."""
    from bot.services import build_services
    from bot.tasks import run_worker

    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException(
            "REDIS_URL is not set: without Redis, jobs run in threads inside `healthbot serve`"
        )
    try:
        services = build_services(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"healthbot worker on {_redact_redis(settings.redis_url)}  "
               f"database={_redact(settings.sqlalchemy_url)}  model={settings.model}", err=True)
    try:
        run_worker(services, burst=burst)
    finally:
        services.close()


def _redact_redis(url: str) -> str:
    """Hide a password in a Redis URL before printing it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


@main.command("eval")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--model", "model_spec", default=None, metavar="PROVIDER/MODEL",
              help="also run the cases through this model path [HEALTHBOT_MODEL]")
@click.option("--mode", type=click.Choice(["single", "contemplate"]), default=None,
              help="also run the cases through the model path in this mode [HEALTHBOT_MODE]")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="only the first N cases")
def eval_(path: Path, as_json: bool, model_spec: str | None, mode: str | None,
          limit: int | None) -> None:
    """Measure the triage rules on a labelled JSONL file; with --model/--mode the model path too."""
    from safety.evaluation import evaluate, format_report, load_cases

    result = evaluate(list(load_cases(path))[:limit])
    if model_spec is None and mode is None:
        if as_json:
            click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            click.echo(format_report(result))
        return
    from bot.model_eval import evaluate_configured, format_model_report
    from bot.model_eval import load_cases as load_model_cases

    try:
        cases = load_model_cases(path, limit=limit)
        model_result = evaluate_configured(cases, _settings(), model=model_spec, mode=mode)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"rules": result, "model_path": model_result.to_json()},
                              ensure_ascii=False, indent=2))
    else:
        click.echo(format_report(result))
        click.echo()
        click.echo(format_model_report(model_result))


@main.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(min=1),
              help="look back this many days")
@click.option("--volume", type=click.FloatRange(min=0), default=None,
              metavar="MESSAGES_PER_MONTH",
              help="project the bill for this many answered messages a month [observed rate]")
@click.option("--price-factor", default=0.2, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="also project at this multiple of today's prices (0.2 = 80% cheaper)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def costs(days: int, volume: float | None, price_factor: float, as_json: bool) -> None:
    """Report model cost and latency per day, conversation, mode and model; project the bill."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.costs import cost_report, format_report
    from bot.store.uow import make_engine, session_factory

    settings = _settings()
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with session_factory(engine)() as session:
            report = cost_report(session, days=days, volume=volume, price_factor=price_factor)
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"cannot read model calls from {_redact(settings.sqlalchemy_url)} "
            f"({type(exc).__name__}); is it migrated (`healthbot db upgrade`)?"
        ) from None
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_report(report))


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


def _console() -> Any:
    """Build the staff console over fresh services (the caller closes `console.services`)."""
    from bot.admin.console import Console
    from bot.admin.security import app_secret
    from bot.services import build_services

    settings = _settings()
    if settings.is_sqlite:
        from bot.store import migrate

        # An embedded database looks after itself, as `serve` does: staff may be added first.
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
        migrate.upgrade(settings.sqlalchemy_url)
    return Console(build_services(settings, background=False), app_secret(settings))


@main.group()
def staff() -> None:
    """Staff console accounts and API tokens."""


@staff.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["viewer", "clinician", "admin"]), required=True)
@click.option("--name", default="", help="the name shown in the console")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def staff_add(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create a staff account; the password is prompted for (never echoed) or read from stdin."""
    from bot.admin.console import CLI_ACTOR, ConsoleError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    console = _console()
    try:
        created = console.create_staff(CLI_ACTOR, email=email, name=name, role=role,
                                       password=password)
    except ConsoleError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        console.services.close()
    click.echo(f"created {created['role']} {created['email']} (id {created['id']})")


@staff.command("token")
@click.argument("email")
@click.option("--label", default="cli", show_default=True)
def staff_token(email: str, label: str) -> None:
    """Create an API token for a staff member and print it (shown only this once)."""
    from bot.admin.console import CLI_ACTOR, ConsoleError

    console = _console()
    try:
        with console.uow() as uow:
            found = uow.staff.by_email(email)
            staff_id = found.id if found is not None else None
        if staff_id is None:
            raise click.ClickException(f"no staff account for {email}")
        created = console.create_token(CLI_ACTOR, staff_id, label=label)
    except ConsoleError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        console.services.close()
    click.echo(created["token"])
    click.echo("Keep it now: it is stored only as a hash and can't be shown again.", err=True)


@staff.command("list")
def staff_list() -> None:
    """List staff accounts."""
    console = _console()
    try:
        for item in console.list_staff():
            state = "active" if item["active"] else "inactive"
            click.echo(f"{item['id']}\t{item['email']}\t{item['role']}\t{state}\t{item['name']}")
    finally:
        console.services.close()


@staff.command("set")
@click.argument("email")
@click.option("--role", type=click.Choice(["viewer", "clinician", "admin"]), default=None)
@click.option("--active/--inactive", default=None, help="allow or stop signing in")
@click.option("--password", "new_password", is_flag=True, help="prompt for a new password")
def staff_set(email: str, role: str | None, active: bool | None, new_password: bool) -> None:
    """Change a staff member's role, active flag or password."""
    from bot.admin.console import CLI_ACTOR, ConsoleError

    password = None
    if new_password:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True,
                                err=True)
    console = _console()
    try:
        with console.uow() as uow:
            found = uow.staff.by_email(email)
            staff_id = found.id if found is not None else None
        if staff_id is None:
            raise click.ClickException(f"no staff account for {email}")
        updated = console.update_staff(CLI_ACTOR, staff_id, role=role, active=active,
                                       password=password)
    except ConsoleError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        console.services.close()
    click.echo(f"{updated['email']}: {updated['role']}, "
               f"{'active' if updated['active'] else 'inactive'}")


@main.command()
@click.option("--days", type=click.IntRange(min=1), required=True,
              help="erase conversations with no activity for this many days")
@click.option("--dry-run", is_flag=True, help="count what would go, erase nothing")
def retention(days: int, dry_run: bool) -> None:
    """Erase conversations whose last activity is older than --days, and say what went."""
    console = _console()
    try:
        counts = console.retention(days, dry_run=dry_run)
    finally:
        console.services.close()
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


def _redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
