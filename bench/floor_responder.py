"""The least the deployment stack can do for a Twilio webhook, for bench/bench_http.py.

The bot's libraries, none of its logic: Twilio's signature check, the pydantic form model, one
PostgreSQL transaction with the two writes no delivery can skip (the contact upserted, the
message inserted with ON CONFLICT, both the bot's own Core statements) and an rq enqueue, then
a fixed TwiML. No commands, no rules, no history, no per-contact order. The bot is measured
against it to see what its own work costs above what its stack costs.

Run: `DATABASE_URL=... REDIS_URL=... gunicorn -w 2 --threads 4 bench.floor_responder:app`
(the database migrated with `healthbot db upgrade`; TWILIO_AUTH_TOKEN and HEALTHBOT_PUBLIC_URL
as the bot's).
"""

from __future__ import annotations

import datetime as dt
import os

from flask import Flask, Response, request
from redis import Redis
from rq import Queue
from twilio.request_validator import RequestValidator

from bot.schemas import InboundMessage
from bot.store import statements
from bot.store.uow import make_engine

app = Flask(__name__)
engine = make_engine(os.environ["DATABASE_URL"])
queue = Queue("floor", connection=Redis.from_url(os.environ["REDIS_URL"]))
validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
public = os.environ["HEALTHBOT_PUBLIC_URL"]
upsert = statements.contact_upsert(engine.dialect.name)
insert = statements.inbound_insert(engine.dialect.name)

TWIML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thank you, we got your '
         "message.</Message></Response>")


@app.post("/twilio/whatsapp")
def whatsapp() -> Response:
    form = request.form.to_dict()
    if not validator.validate(public + request.full_path.rstrip("?"), form,
                              request.headers.get("X-Twilio-Signature", "")):
        return Response("invalid signature\n", status=403)
    msg = InboundMessage.model_validate(form)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        contact = conn.execute(upsert, {"wa_id": msg.contact_key, "phone": msg.sender,
                                        "profile_name": msg.profile_name or None,
                                        "country": None, "now": now}).one()
        row = conn.execute(insert, {
            "contact_id": contact.id, "direction": "in", "body": msg.body,
            "twilio_sid": msg.message_sid, "status": "received", "media": [],
            "location": None, "button_text": None, "extra": {}, "received_at": now,
            "created_at": now, "triage_level": None, "rule_ids": [], "language": None,
        }).first()
    if row is not None:
        queue.enqueue("builtins.print", row.id, result_ttl=0)
    return Response(TWIML, status=200, content_type="text/xml; charset=utf-8")
