"""The yardstick for bench/bench_http.py: the least a Flask app can do for a Twilio webhook.

It parses the form and answers a fixed TwiML message, nothing else: no signature, no store, no
rules. The bot's webhook is measured as a fraction of this, in the same gunicorn shape.

Run: `gunicorn -w 2 --threads 4 bench.bare_responder:app`.
"""

from __future__ import annotations

from flask import Flask, Response, request

app = Flask(__name__)

TWIML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thank you, we got your '
         "message.</Message></Response>")


@app.post("/twilio/whatsapp")
def whatsapp() -> Response:
    form = request.form
    if not form.get("MessageSid") or not form.get("From"):
        return Response("malformed webhook\n", status=400, content_type="text/plain")
    return Response(TWIML, status=200, content_type="text/xml; charset=utf-8")
