"""`POST /twilio/whatsapp`: verify, parse, call the pipeline, answer with TwiML.

Views stay a few lines: parse, call, map errors. A bad request gets a 4xx with a reason and
nothing stored; a database failure never loses the message (it is spooled, and the person still
gets the safety layer's answer).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, current_app, request
from pydantic import ValidationError
from twilio.twiml.messaging_response import MessagingResponse

import safety
from bot import i18n
from bot.errors import StoreError
from bot.pipeline import handle_inbound, receive
from bot.schemas import InboundMessage
from bot.webhook.signature import is_valid_signature, public_request_url
from bot.webhook.spool import spool_inbound

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
blueprint = Blueprint("twilio", __name__, url_prefix="/twilio")


def services() -> Services:
    return current_app.extensions["bot"]  # type: ignore[no-any-return]


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
    svc = services()
    form = request.form.to_dict()
    try:
        msg = InboundMessage.model_validate(form)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "form"
        return bad_request(f"malformed webhook: {field}: {first['msg']}")
    expected_account = svc.settings.twilio_account_sid
    if expected_account and msg.account_sid and msg.account_sid != expected_account:
        return Response("AccountSid does not match this deployment\n", status=403)
    try:
        if svc.defers_answers:
            return twiml(_receive_and_defer(svc, msg))
        reply = handle_inbound(
            msg,
            uow=svc.uow(),
            chat_model=svc.chat_model,
            config=svc.pipeline_config,
            notify_staff=svc.notify_staff,
            on_erase=svc.on_erase,
        )
    except StoreError:
        log.exception("store unavailable; spooling %s", msg.message_sid)
        return twiml(_answer_without_store(svc, msg, form))
    svc.after_reply(reply)
    return twiml(reply.bubbles)


def _receive_and_defer(svc: Services, msg: InboundMessage) -> list[str]:
    """Store, run commands and safety inline; queue the model's answer (sent through REST)."""
    received = receive(msg, uow=svc.uow(), config=svc.pipeline_config,
                       notify_staff=svc.notify_staff, on_erase=svc.on_erase)
    reply = received.reply
    svc.after_reply(reply)
    if received.answer_id is None or reply.contact_id is None:
        return reply.bubbles  # a command, an emergency, a duplicate: all answered already
    svc.enqueue_answer(reply.contact_id, received.answer_id)
    if not svc.settings.ack_pending:
        return reply.bubbles
    return [*reply.bubbles, i18n.t("answer_pending", reply.language or "en")]


def _answer_without_store(svc: Services, msg: InboundMessage, form: dict[str, str]) -> list[str]:
    """Keep the message on disk for replay, and still answer from the safety layer alone."""
    spool_inbound(svc.settings.instance_dir, form)
    assessment = safety.assess(msg.text, sender=msg.sender)
    if assessment.is_emergency:
        return [safety.emergency_reply(assessment)]
    hint = assessment.contact.emergency or i18n.t("emergency_hint_unknown", assessment.language)
    return [i18n.t("store_unavailable", assessment.language, emergency_hint=hint)]
