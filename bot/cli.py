"""The `healthbot` command: serve, chat, db, eval, alerts, staff, retention."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx

from bot.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.pipeline import Replayed
    from bot.services import Services


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class _Healthbot(click.Group):
    """The command group: a database that can't be used is one line with what to do next."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import DBAPIError

        try:
            return super().invoke(ctx)
        except DBAPIError as exc:
            try:
                url = load_settings().sqlalchemy_url
            except ConfigError:
                url = "DATABASE_URL"
            raise click.ClickException(_database_problem(exc, url)) from None


@click.group(cls=_Healthbot)
def main() -> None:
    """healthbot: a careful WhatsApp health assistant."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="gunicorn processes")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(min=1),
              help="threads per process")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Run the bot's web server (gunicorn) on the configured database and model.

    The master process only checks the set-up (settings, port, database, models) and compiles
    the safety rules, which the workers share; each worker builds its own app, database pool,
    clients and threads after the fork, so no connection is ever shared between processes.
    """
    settings = _settings()
    if "public_url" not in settings.model_fields_set:
        # Unset, the URL Twilio (or `healthbot chat`) signs is the one this server listens on.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings = settings.model_copy(update={"public_url": f"http://{shown}:{port}"})
    _check_port(host, port)
    # Before prometheus_client is imported: every worker writes its samples there.
    metrics_dir, made_dir = _metrics_dir()

    from gunicorn.app.base import BaseApplication
    from gunicorn.errors import AppImportError

    from bot.app import create_app
    from bot.logging_setup import JsonGunicornLogger, TextGunicornLogger, configure_logging

    configure_logging(settings.log_level, settings.log_format)
    dev_token = _preflight(settings)
    if dev_token:
        banner = "!" * 78
        click.secho(
            f"{banner}\n  DEVELOPMENT MODE: TWILIO_AUTH_TOKEN is not set.\n"
            f"  Requests must be signed with the local secret in {settings.dev_token_path()}\n"
            f"  (`healthbot chat` does this). Real Twilio traffic will be refused (403).\n{banner}",
            fg="yellow", err=True,
        )
    click.echo(
        f"healthbot on http://{host}:{port}  database={_redact(settings.sqlalchemy_url)}  "
        f"model={settings.model}  webhook=POST /twilio/whatsapp  public={settings.public_url}  "
        f"workers={workers}",
        err=True,
    )
    logger_class = TextGunicornLogger if settings.log_format == "text" else JsonGunicornLogger

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 60)
            self.cfg.set("preload_app", False)  # the app is built in each worker, after the fork
            self.cfg.set("accesslog", "-")
            self.cfg.set("errorlog", "-")
            self.cfg.set("loglevel", settings.log_level.lower())
            self.cfg.set("logger_class", logger_class)
            self.cfg.set("worker_exit", _worker_exit)
            self.cfg.set("child_exit", _child_exit)
            if "control_socket_disable" in self.cfg.settings:
                # gunicorn >= 24 opens a control socket in $HOME, shared by every server there.
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            # Runs in each worker process, after the fork.
            try:
                return create_app(settings, upgrade_db=False)
            except ConfigError as exc:
                raise AppImportError(f"Error: {exc}") from None

    try:
        _Server().run()
    finally:
        if made_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _worker_exit(_server: Any, worker: Any) -> None:
    """gunicorn hook, in the exiting worker: close its database pool, clients and threads."""
    app = getattr(worker, "wsgi", None)
    extensions = getattr(app, "extensions", None) or {}
    services = extensions.get("bot")
    if services is not None:
        services.close()


def _child_exit(_server: Any, worker: Any) -> None:
    """gunicorn hook, in the master: a dead worker's live gauges no longer count."""
    from bot import metrics

    metrics.mark_process_dead(worker.pid)


def _metrics_dir() -> tuple[Path, bool]:
    """PROMETHEUS_MULTIPROC_DIR, emptied (or a fresh temporary folder); True when we made it."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # samples of an earlier run would be added in
            stale.unlink()
        return folder, False
    folder = Path(tempfile.mkdtemp(prefix="healthbot-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder, True


def _check_port(host: str, port: int) -> None:
    """Fail with one line when the address is taken, before gunicorn retries and complains."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is already in use (another healthbot?): stop it, "
                    f"or use --port {port + 1}"
                ) from None
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({exc.strerror}): use another --host or --port"
            ) from None


def _preflight(settings: Settings) -> bool:
    """Check everything a worker needs before forking any; return True in development mode.

    Opens nothing that outlives it: engines are disposed, model clients closed. The safety
    rules are compiled here, once, and shared by the forked workers.
    """
    import safety
    from bot.knowledge import KnowledgeBase
    from bot.llm.factory import build_chat_model
    from bot.services import build_alerters

    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    _check_database(settings, upgrade=settings.is_sqlite)
    try:
        _chat_model, closers = build_chat_model(settings, knowledge=KnowledgeBase.load())
        for close in closers:
            close()
        with httpx.Client() as probe:
            build_alerters(settings, probe)
        # Made once here: workers racing to create the development secret would disagree.
        _token, dev = settings.webhook_auth_token(create=True)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    safety.preload()
    return dev


def _check_database(settings: Settings, *, upgrade: bool) -> None:
    """Say in one line what to do when the database can't be used; migrate SQLite if asked.

    An unreachable PostgreSQL is only a warning: the web process still answers from the
    safety layer and spools messages until it is back.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from bot.store import migrate

    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        problem = _sqlite_problem(url)
        if problem:
            raise click.ClickException(problem)
        if upgrade:
            try:
                migrate.upgrade(url)
            except Exception as exc:
                raise click.ClickException(_database_problem(exc, url)) from None
            return
    engine = create_engine(url, poolclass=NullPool,
                           connect_args={} if settings.is_sqlite else {"connect_timeout": 3})
    try:
        current = migrate.current_revision(engine)
        head = migrate.head_revision(url)
    except Exception as exc:
        click.echo(f"warning: {_database_problem(exc, url)}; starting anyway (messages are "
                   "answered by the safety layer and spooled until it is back)", err=True)
        return
    finally:
        engine.dispose()
    if current is None:
        raise click.ClickException(
            f"the database {_redact(url)} has no healthbot tables yet: run `healthbot db upgrade`"
        )
    if current != head:
        raise click.ClickException(
            f"the database {_redact(url)} is at revision {current}, this release needs {head}: "
            "run `healthbot db upgrade`"
        )


def _sqlite_problem(url: str) -> str | None:
    """Why a SQLite URL can't work (missing folder, a folder given as the file), or None."""
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    path = Path(database)
    if not path.parent.is_dir():
        return (f"the SQLite database's folder {path.parent} does not exist: create it, or set "
                "DATABASE_URL to a file in an existing folder (sqlite:////abs/path/healthbot.db)")
    if path.is_dir():
        return f"{path} is a folder, not a SQLite file: set DATABASE_URL to a file path"
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"cannot write to the SQLite database {path}: check its permissions"
    return None


def _database_problem(exc: BaseException, url: str) -> str:
    """One line saying what went wrong with the database and what to do next."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = detail[0] if detail else type(exc).__name__
    lowered = first.lower()
    where = _redact(url)
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return f"the database {where} has no healthbot tables: run `healthbot db upgrade`"
    if "unable to open database file" in lowered:
        return (f"cannot open the SQLite database {where}: check that its folder exists and is "
                "writable (DATABASE_URL)")
    if "does not exist" in lowered and "database" in lowered:
        return f"{first}: create it (createdb), or fix DATABASE_URL"
    if "authentication" in lowered or "password" in lowered:
        return (f"the database refused the login ({first}): check the user and password in "
                "DATABASE_URL")
    if any(word in lowered for word in ("refused", "could not connect", "timeout", "timed out",
                                        "connection", "resolve", "name or service")):
        return f"cannot reach the database {where} ({first}): is it running? check DATABASE_URL"
    return f"database error at {where}: {type(exc).__name__}: {first}"


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
        token, dev = settings.webhook_auth_token(create=False)
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
        except httpx.ConnectError:
            raise click.ClickException(
                f"nothing answers at {url}: start it with `healthbot serve` "
                "(or point --url at the running bot)"
            ) from None
        except httpx.TimeoutException:
            raise click.ClickException(
                f"{url} did not answer within 60 s: is the bot overloaded or stuck? "
                "see its log"
            ) from None
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {url}: {exc}") from None
        if response.status_code == 403:
            secret = ("the development secret in " + str(settings.dev_token_path())
                      if dev else "TWILIO_AUTH_TOKEN")
            raise click.ClickException(
                f"the bot refused the signature (403): this request was signed with {secret} "
                f"for {signed_url}; the server must use the same token and its "
                "HEALTHBOT_PUBLIC_URL + /twilio/whatsapp must equal that URL (else pass "
                "--sign-url with the URL it checks)"
                + (f"; it said: {response.text.strip()[:120]}"
                   if "AccountSid" in response.text else "")
            )
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
    url = settings.sqlalchemy_url
    problem = _sqlite_problem(url) if settings.is_sqlite else None
    if problem:
        raise click.ClickException(problem)
    try:
        migrate.upgrade(url, revision)
    except Exception as exc:
        raise click.ClickException(_database_problem(exc, url)) from None
    click.echo(f"database at {revision}: {_redact(url)}")


@db.command("replay-spool")
def db_replay_spool() -> None:
    """Store the messages spooled while the database was down, and tell each person.

    Each runs the whole receive path: commands take effect (STOP, DELETE YES, HUMAN...), the
    rules run, emergencies are escalated to staff. With Twilio credentials the person then gets
    what they would have got (the command's answer, the model's answer to a question).
    """
    from pydantic import ValidationError

    from bot.admin.console import Console
    from bot.admin.security import app_secret
    from bot.errors import StoreError
    from bot.pipeline import record_spooled
    from bot.schemas import InboundMessage
    from bot.services import build_services
    from bot.store.uow import use_erasure_key
    from bot.webhook.spool import spool_entries

    settings = _settings()
    services = build_services(settings, background=False)
    secret = app_secret(settings)
    use_erasure_key(services.sessions, secret)
    # A replayed DELETE YES is audited like one that arrived over WhatsApp.
    services.on_erase = Console(services, secret).record_self_erasure
    tell = services.messenger is not None
    stored = known = skipped = failed = told = 0
    try:
        for entry in spool_entries(settings.instance_dir):
            name = entry.path.name
            if entry.error is not None:
                click.echo(f"skipped {name}: {entry.error}", err=True)
                skipped += 1
                continue
            try:
                msg = InboundMessage.model_validate(entry.form)
            except ValidationError as exc:
                click.echo(f"skipped {name}: {exc.errors()[0]['msg']}", err=True)
                skipped += 1
                continue
            try:
                result = record_spooled(
                    msg, uow=services.uow(), notify_staff=services.notify_staff,
                    on_erase=services.on_erase, config=services.pipeline_config,
                    understanding=services.understanding, now=entry.spooled_at, tell=tell,
                )
            except StoreError as exc:
                raise click.ClickException(
                    f"the database is still unavailable ({exc}); the spool is kept: run "
                    "`healthbot db replay-spool` again once it is back"
                ) from None
            except Exception as exc:
                click.echo(f"failed {name}: {type(exc).__name__}; kept for the next replay",
                           err=True)
                failed += 1
                continue
            entry.path.unlink()
            if not result.stored:
                known += 1
                continue
            stored += 1
            services.dispatch_alerts(result.alert_ids)
            if tell and _tell_replayed(services, result, name):
                told += 1
        services.alerts.retry_due()  # alerts whose first send failed go out again now
    finally:
        services.close()
    told_note = (f", {told} replied to through Twilio" if tell
                 else "; no Twilio credentials, so nobody was told")
    click.echo(f"replayed spool: {stored} stored, {known} already stored or erased, "
               f"{skipped} skipped, {failed} failed{told_note}")
    if failed:
        raise SystemExit(1)


def _tell_replayed(services: Services, result: Replayed, name: str) -> bool:
    """Send a replayed message's replies through the Messenger, and queue its answer."""
    from bot.outbound import OutsideWindow, SendFailed, send_recorded

    messenger = services.require_messenger()
    try:
        for text in result.unrecorded:  # the erasure confirmation: sent, never stored
            messenger.send_text(result.to, text, status_callback=None)
        if result.send_ids:
            send_recorded(services.uow, messenger, result.send_ids,
                          status_callback=services.status_callback_url,
                          template_for=services.template_for("answer"))
        if result.answer_id is not None and result.contact_id is not None:
            services.enqueue_answer(result.contact_id, result.answer_id)
    except (OutsideWindow, SendFailed) as exc:
        click.echo(f"could not tell the sender of {name}: {exc}", err=True)
        return False
    return bool(result.unrecorded or result.send_ids or result.answer_id is not None)


@main.command()
@click.option("--burst", is_flag=True, help="exit once the queue is empty")
@click.option("--metrics-port", type=click.IntRange(min=0, max=65535), default=0,
              help="serve this worker's Prometheus metrics on this port (0: off)")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="the address the metrics port listens on")
def worker(burst: bool, metrics_port: int, metrics_host: str) -> None:
    """Run a queue worker: slow answers, staff replies and alerts, from Redis (REDIS_URL)."""
    from bot.logging_setup import configure_logging
    from bot.services import build_services
    from bot.tasks import run_worker

    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException(
            "REDIS_URL is not set: without Redis, jobs run in threads inside `healthbot serve`"
        )
    configure_logging(settings.log_level, settings.log_format)
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    _check_database(settings, upgrade=False)
    try:
        services = build_services(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    import safety

    safety.preload()  # before the first job, not inside it
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)
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
@click.option("--semantic/--no-semantic", default=None,
              help="add the semantic red-flag second opinion and say which layer caught each "
                   "emergency [default: on when the encoder loads]")
def eval_(path: Path, as_json: bool, model_spec: str | None, mode: str | None,
          limit: int | None, semantic: bool | None) -> None:
    """Measure the triage rules on a labelled JSONL file; with --model/--mode the model path too."""
    from safety.evaluation import evaluate, format_report, load_cases

    second_opinion = None
    status = "off (--no-semantic)"
    if semantic is not False:
        from bot.errors import EmbedderUnavailable
        from bot.understanding.redflags import load_default_detector

        try:
            # Quiet: `--json` must stay one JSON object; a stale bank is named in `status`.
            detector = load_default_detector(quiet=True)
        except EmbedderUnavailable as exc:
            if semantic:
                raise click.ClickException(f"--semantic: {exc}") from None
            status = f"off ({exc})"
        else:
            second_opinion = detector.check
            status = f"on ({detector.embedder.name})" + (
                f", {detector.encoded_now} stale exemplar vectors encoded now: run "
                "`healthbot kb embed`" if detector.encoded_now else "")
    result = evaluate(list(load_cases(path))[:limit], second_opinion=second_opinion)
    result["semantic"] = status
    if model_spec is None and mode is None:
        if as_json:
            click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            click.echo(format_report(result))
            click.echo(f"semantic second opinion: {result['semantic']}")
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
        click.echo(f"semantic second opinion: {result['semantic']}")
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
            second = "2fa" if item["second_factor"] else "no-2fa"
            click.echo(f"{item['id']}\t{item['email']}\t{item['role']}\t{state}\t{item['name']}"
                       f"\t{second}")
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


def _staff_id(console: Any, email: str) -> int:
    with console.uow() as uow:
        found = uow.staff.by_email(email)
        staff_id: int | None = found.id if found is not None else None
    if staff_id is None:
        raise click.ClickException(f"no staff account for {email}")
    return staff_id


@staff.command("reset-2fa")
@click.argument("email")
def staff_reset_2fa(email: str) -> None:
    """Remove someone's second factor (a lost phone) and sign them out everywhere.

    They sign in with their password afterwards; an admin is then asked to set it up again.
    """
    from bot.admin.accounts import Accounts
    from bot.admin.console import CLI_ACTOR, ConsoleError

    console = _console()
    try:
        done = Accounts(console).totp_reset(CLI_ACTOR, _staff_id(console, email))
    except ConsoleError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        console.services.close()
    state = "removed" if done["was_on"] else "was not on; sessions ended anyway"
    click.echo(f"{done['email']}: second factor {state}")


@staff.command("reset-link")
@click.argument("email")
def staff_reset_link(email: str) -> None:
    """Make a one-time link (24 h) for someone to set a new password, and print it.

    Their old password and every session stop working at once.
    """
    from bot.admin.accounts import Accounts
    from bot.admin.console import CLI_ACTOR, ConsoleError

    console = _console()
    try:
        made = Accounts(console).create_reset(CLI_ACTOR, _staff_id(console, email))
    except ConsoleError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        console.services.close()
    base = console.services.settings.public_url.rstrip("/")
    click.echo(f"{base}/admin/reset?t={made['token']}")
    click.echo(f"For {made['email']}, once, until {made['expires_at']:%Y-%m-%d %H:%M} UTC. "
               "Pass it on yourself; it can't be shown again.", err=True)


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


@main.command("eval-answers")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--misses", type=click.IntRange(min=0), default=0, show_default=True,
              help="list this many missed cases")
def eval_answers(path: Path, as_json: bool, misses: int) -> None:
    """Measure understanding on labelled conversations: passages, follow-ups, small talk."""
    from bot.understanding import evaluation

    understanding = _understanding()
    try:
        result = evaluation.evaluate(understanding, evaluation.load_cases(path))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(evaluation.format_report(result, misses=misses))


@main.group()
def kb() -> None:
    """The vetted knowledge base: passages and their precomputed vectors."""


@kb.command("embed")
@click.option("--check", is_flag=True, help="only say whether the shipped vectors are stale")
def kb_embed(check: bool) -> None:
    """Bring the shipped vectors up to date for the configured encoder (after content changed):
    the passages, the small-talk phrases and the red-flag descriptions."""
    from bot.knowledge.passages import load_passages
    from bot.understanding import redflags, smalltalk, vectors
    from bot.understanding.service import small_talk_name

    embedder = _embedder()
    if embedder is None:
        raise click.ClickException("no encoder is configured (HEALTHBOT_EMBEDDINGS=none)")
    passages, _titles = load_passages()
    phrases = [text for text, _intent, _language in smalltalk.exemplars()]
    talk = small_talk_name(embedder)
    stale = {
        "passage texts": vectors.missing_texts(passages, vectors.load_shipped(embedder.name)),
        "small-talk phrases": [p for p in phrases
                               if vectors.text_key(p) not in vectors.load_shipped(talk)],
        "red-flag descriptions": redflags.stale_texts(embedder.name),
    }
    if check:
        behind = {what: len(texts) for what, texts in stale.items() if texts}
        if behind:
            raise click.ClickException(
                ", ".join(f"{n} {what}" for what, n in behind.items())
                + f" have no vectors for {embedder.name}: run `healthbot kb embed`")
        click.echo(f"vectors for {embedder.name} are up to date ({len(passages)} passages)")
        return
    click.echo(", ".join(f"{len(t)} new {what}" for what, t in stale.items())
               + f" to encode with {embedder.name}…")
    table = vectors.encode_missing(embedder, passages, vectors.load_shipped(embedder.name))
    click.echo(f"wrote {vectors.save(embedder.name, passages, table)}")
    table = vectors.encode_texts(embedder, phrases, vectors.load_shipped(talk), as_queries=True)
    click.echo(f"wrote {vectors.save_texts(talk, phrases, table)}")
    click.echo(f"wrote {redflags.rebuild_vectors(embedder)}")


def _embedder() -> Any:
    from bot.errors import EmbedderUnavailable
    from bot.understanding.embedder import build_embedder

    settings = _settings()
    client = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
    try:
        return build_embedder(
            settings.embeddings, client=client, openai_base_url=settings.openai_base_url,
            openai_api_key=(settings.openai_api_key.get_secret_value()
                            if settings.openai_api_key else None),
        )
    except EmbedderUnavailable as exc:
        raise click.ClickException(f"HEALTHBOT_EMBEDDINGS: {exc}") from None


def _understanding() -> Any:
    from bot.understanding import Understanding

    return Understanding.load(_embedder())


def _redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
