"""`POST /twilio/whatsapp`: verify, parse, call the pipeline, answer with TwiML; never a 5xx.

Views stay a few lines: parse, call, map errors. A bad request gets a 4xx with a reason and
nothing stored. Past the signature check, whatever fails (the database down, hung or never
migrated, a constraint, a bug), the message is spooled to disk for `healthbot db replay-spool`,
the person still gets the safety layer's answer within RECEIVE_BUDGET_S (the emergency text and
number when it is one), and staff hear of an emergency through the alert channels directly.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from pydantic import ValidationError
from sqlalchemy.exc import (
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from twilio.twiml.messaging_response import MessagingResponse

import safety
from bot import i18n, metrics
from bot.errors import StoreError
from bot.pipeline import Received, Reply, answer_inbound, receive
from bot.ports import StaffAlert
from bot.schemas import InboundMessage, storable
from bot.store.models import utcnow
from bot.store.uow import use_erasure_key
from bot.webhook.deadline import TooLate, run_within
from bot.webhook.signature import is_valid_signature, public_request_url
from bot.webhook.spool import spool_inbound

if TYPE_CHECKING:
    from bot.ports import Alerter
    from bot.services import Services
    from safety import Assessment

log = logging.getLogger(__name__)
blueprint = Blueprint("twilio", __name__, url_prefix="/twilio")

# Storing the message and the rules' answer must be done by then, or the person is answered from
# the safety layer alone: Twilio waits 15 s, a person in an emergency should not wait 5.
RECEIVE_BUDGET_S = 4.0
# A copy of a delivery received at least this long after the first is Twilio retrying (it never
# got our answer) and gets the same TwiML again; a copy within it is a concurrent duplicate.
REPLAY_AFTER = dt.timedelta(seconds=2)
# Database errors that mean "unavailable" (down, hung, never migrated), answered with a 503.
OUTAGE_ERRORS = (StoreError, PoolTimeout, OperationalError, InterfaceError, ProgrammingError,
                 InternalError, TooLate)


def services() -> Services:
    return current_app.extensions["bot"]  # type: ignore[no-any-return]


@blueprint.record_once
def _key_erasures(state: BlueprintSetupState) -> None:
    """Key the hashes of erased MessageSids with the app secret, as the audit log's are."""
    from bot.admin.security import app_secret

    svc = state.app.extensions.get("bot")
    if svc is not None:
        use_erasure_key(svc.sessions, app_secret(svc.settings))


def database_unavailable(exc: Exception) -> Response:
    """Any page or API call during a database outage: a clear 503, not a 500."""
    log.warning("database unavailable for %s: %s", request.path, type(exc).__name__)
    reason = "the database is unavailable; try again shortly"
    if request.path.startswith("/admin/api"):
        response = jsonify(error="database_unavailable", reason=reason)
        response.status_code = 503
    else:
        response = Response(reason + "\n", status=503, content_type="text/plain; charset=utf-8")
    response.headers["Retry-After"] = "30"
    return response


for _outage in OUTAGE_ERRORS:
    blueprint.app_errorhandler(_outage)(database_unavailable)


def twiml(bubbles: list[str]) -> Response:
    """Render bubbles as TwiML; no bubbles is `<Response/>`, never an empty `<Message/>`."""
    response = MessagingResponse()
    for bubble in bubbles:
        if bubble.strip():
            response.message(bubble)
    return Response(str(response), status=200, content_type="text/xml; charset=utf-8")


def bad_request(reason: str) -> Response:
    return Response(reason + "\n", status=400, content_type="text/plain; charset=utf-8")


def verify_signature() -> None:
    """Abort with 403 unless the request carries Twilio's signature for our public URL."""
    svc = services()
    url = public_request_url(svc.settings.public_url, request.full_path)
    params = request.form.to_dict()
    if not is_valid_signature(
        svc.webhook_token, url, params, request.headers.get("X-Twilio-Signature")
    ):
        log.warning("rejected a request with a missing or wrong signature for %s", url)
        abort(Response("invalid or missing X-Twilio-Signature\n", status=403))


@blueprint.post("/whatsapp")
def whatsapp() -> Response:
    verify_signature()
    started = time.monotonic()
    svc = services()
    form = request.form.to_dict()
    try:
        return _inbound(svc, form, started)
    except Exception:
        # Past the signature check nothing may cost the person their answer, a bug included.
        log.exception("inbound message failed; spooled and answered from the safety layer")
        return twiml(_answer_without_store(svc, form))


def _inbound(svc: Services, form: dict[str, str], started: float) -> Response:
    try:
        msg = InboundMessage.model_validate(form)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "form"
        return bad_request(f"malformed webhook: {field}: {first['msg']}")
    expected_account = svc.settings.twilio_account_sid
    if expected_account and msg.account_sid and msg.account_sid != expected_account:
        return Response("AccountSid does not match this deployment\n", status=403)
    metrics.INBOUND.inc()
    try:
        received, again = run_within(started + RECEIVE_BUDGET_S, lambda: _receive(svc, msg),
                                     name="webhook-receive")
    except Exception as exc:
        log.error("message %s not stored (%s); spooled, answered from the safety layer",
                  msg.message_sid, type(exc).__name__,
                  exc_info=not isinstance(exc, (TooLate, StoreError)))
        return twiml(_answer_without_store(svc, form, msg))
    if received is None:
        return twiml([])  # an erased person's old message, delivered again: stays erased
    reply = received.reply
    if reply.duplicate:
        return twiml(again)
    _after_reply(svc, reply)
    metrics.observe_received(received)
    if received.transcribe_id is not None and reply.contact_id is not None:
        return _queue_voice_note(svc, msg, reply.contact_id, received.transcribe_id)
    if received.answer_id is None or reply.contact_id is None:
        return twiml(reply.bubbles)  # a command, an emergency, small talk: answered already
    if svc.defers_answers or received.photo:  # a photo: fetched and looked at in the job
        try:
            svc.enqueue_answer(reply.contact_id, received.answer_id)
        except Exception:
            log.exception("could not queue the answer to %s", msg.message_sid)
            return twiml([*reply.bubbles, _safe_answer(msg)])
        if not svc.settings.ack_pending:
            return twiml(reply.bubbles)
        return twiml([*reply.bubbles, i18n.t("answer_pending", reply.language or "en")])
    try:
        answered = answer_inbound(
            received.answer_id,
            uow=svc.uow(),
            chat_model=svc.chat_model,
            config=svc.pipeline_config,
            notify_staff=svc.notify_staff,
            started=started,
            understanding=svc.understanding,
        )
    except Exception:
        # Stored, so nothing to spool: the person still gets the rules' safe answer.
        log.exception("the answer to %s failed; sending the safe fallback", msg.message_sid)
        return twiml([*reply.bubbles, _safe_answer(msg)])
    _after_reply(svc, answered)
    metrics.observe_reply(answered)
    return twiml([*reply.bubbles, *answered.bubbles])


def _queue_voice_note(svc: Services, msg: InboundMessage, contact_id: int,
                      inbound_id: int) -> Response:
    """Acknowledge a stored voice note; the transcription job hears and answers it."""
    try:
        svc.enqueue_transcription(contact_id, inbound_id)
    except Exception:
        log.exception("could not queue the transcription of %s", msg.message_sid)
        assessment = safety.assess(msg.text, sender=msg.sender)
        hint = assessment.contact.emergency or i18n.t("emergency_hint_unknown",
                                                      assessment.language)
        return twiml([i18n.t("voice_not_heard", assessment.language, emergency_hint=hint)])
    return twiml([])


def _receive(svc: Services, msg: InboundMessage) -> tuple[Received | None, list[str]]:
    """Store the message and run commands and rules; (None, []) for an erased message.

    For a duplicate, also the TwiML to send again when it is Twilio retrying an answered one.
    """
    received = receive(msg, uow=svc.uow(), config=svc.pipeline_config,
                       notify_staff=svc.notify_staff, on_erase=svc.on_erase,
                       understanding=svc.receive_understanding, transcribe=svc.transcribes,
                       look=svc.looks)
    if received.erased:
        log.info("delivery %s of an erased message refused", msg.message_sid)
        return None, []
    again: list[str] = []
    if received.reply.duplicate:
        with svc.uow() as uow:
            again = uow.messages.twiml_answer(msg.message_sid,
                                              received_before=utcnow() - REPLAY_AFTER)
        if again:
            log.info("delivery %s repeated: answered again with the same TwiML", msg.message_sid)
    return received, again


def _after_reply(svc: Services, reply: Reply) -> None:
    """Send staff alerts after commit; they are rows, so a failure here is retried later."""
    try:
        svc.after_reply(reply)
    except Exception:
        log.exception("staff alerts %s not dispatched now; the periodic retry sends them",
                      reply.alert_ids)


def _safe_answer(msg: InboundMessage) -> str:
    """The rules' generic safe answer (when to seek care, the number) when the model's failed."""
    return safety.safe_fallback(safety.assess(msg.text, sender=msg.sender))


def _answer_without_store(
    svc: Services, form: dict[str, str], msg: InboundMessage | None = None
) -> list[str]:
    """Keep the message on disk for replay, and still answer from the safety layer alone."""
    try:
        spool_inbound(svc.settings.instance_dir, form)
        metrics.SPOOLED.inc()
    except Exception:
        log.exception("could not spool message %s either", form.get("MessageSid", "?"))
    text = msg.text if msg else storable(form.get("Body") or "").strip()
    sender = msg.sender if msg else storable(form.get("From") or "")
    try:
        assessment = safety.assess(text, sender=sender)
        if assessment.is_emergency:
            _alert_without_store(svc, sender, text, assessment)
            return [safety.emergency_reply(assessment)]
        hint = assessment.contact.emergency or i18n.t("emergency_hint_unknown",
                                                      assessment.language)
        return [i18n.t("store_unavailable", assessment.language, emergency_hint=hint)]
    except Exception:
        log.exception("the safety layer failed on an unstored message")
        hint = i18n.t("emergency_hint_unknown", "en")
        return [i18n.t("store_unavailable", "en", emergency_hint=hint)]


def _alert_without_store(svc: Services, sender: str, text: str, assessment: Assessment) -> None:
    """Tell staff of an emergency now, through every channel, with no database to record it."""
    alert = StaffAlert(
        contact_id=0,  # not stored yet: `healthbot db replay-spool` stores it and alerts again
        phone=sender,
        level=assessment.level.value,
        rule_ids=list(assessment.rule_ids),
        excerpt=f"[not stored: database unavailable] {text}"[:200],
        reason="self_harm" if assessment.self_harm else "emergency",
        admin_url=None,
    )
    for alerter in svc.alerts.alerters.values():
        try:
            svc.alerts.submit(_sender_of(alerter, alert))
        except Exception:
            log.exception("could not hand the alert to channel %s", alerter.name)


def _sender_of(alerter: Alerter, alert: StaffAlert) -> Callable[[], None]:
    def send() -> None:
        try:
            alerter.send(alert)
        except Exception:
            log.exception("emergency alert via %s failed while the database is down",
                          alerter.name)

    return send
