"""Helpers for the staff console tests: staff accounts, seeded conversations, a fake Messenger."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher

from bot.admin import mfa
from bot.admin.accounts import Accounts
from bot.admin.console import CLI_ACTOR, Actor, Console
from bot.admin.security import Passwords
from bot.outbound import Template
from bot.store.models import Contact, Message, ModelCallRow, SafetyEvent, utcnow

PASSWORD = "correct horse battery staple"


@dataclass
class FakeMessenger:
    """Records what would have gone to Twilio; answers like Twilio does."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send_text(self, to: str, body: str, *, status_callback: str | None) -> tuple[str, str]:
        self.sent.append((to, body))
        return "SM" + secrets.token_hex(16), "queued"

    def send_template(
        self, to: str, template: Template, *, status_callback: str | None
    ) -> tuple[str, str]:
        self.sent.append((to, f"template:{template.content_sid}"))
        return "SM" + secrets.token_hex(16), "queued"


def fast_hashing(app: Any) -> None:
    """Use cheap argon2 parameters: the tests make many accounts; production keeps the defaults."""
    console(app).passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024,
                                                      parallelism=1))


def console(app: Any) -> Console:
    return app.extensions["healthbot_console"]  # type: ignore[no-any-return]


def make_staff(app: Any, role: str, *, email: str | None = None,
               password: str = PASSWORD, second_factor: bool | None = None,
               ) -> tuple[int, str, str]:
    """Create a staff member with an API token; return (id, email, token).

    Admins get a second factor (the console requires one), others only when asked; `login`
    then answers the code step with a code computed from the secret, as a phone would.
    """
    email = email or f"{role}-{secrets.token_hex(3)}@clinic.example.org"
    created = console(app).create_staff(CLI_ACTOR, email=email, name=role.title(), role=role,
                                        password=password)
    token = console(app).create_token(CLI_ACTOR, created["id"], label="tests")["token"]
    if second_factor if second_factor is not None else role == "admin":
        enrol(app, created["id"])
    return created["id"], email, token


# The TOTP secret and recovery codes of each account the tests enrolled, by email.
TOTP_SECRETS: dict[str, str] = {}
RECOVERY_CODES: dict[str, list[str]] = {}


def _actor(app: Any, staff_id: int) -> Actor:
    with app.extensions["bot"].uow() as uow:
        staff = uow.staff.get(staff_id)
        assert staff is not None
        return Actor(staff.id, staff.email, staff.role, staff.name, "127.0.0.1")


def enrol(app: Any, staff_id: int) -> str:
    """Turn the second factor on through the same calls as the enrolment page; return the secret.

    The confirming code is the previous step's (phones' clocks drift, so it is accepted), which
    leaves this step and the next free for the sign-ins that follow.
    """
    who = _actor(app, staff_id)
    desk = Accounts(console(app))
    secret = desk.totp_start(who).secret
    step = mfa.time_step(console(app).clock()) - 1
    RECOVERY_CODES[who.email] = desk.totp_confirm(who, mfa.code_at(secret, step),
                                                  keep_session=None)
    TOTP_SECRETS[who.email] = secret
    return secret


def next_code(app: Any, email: str) -> str:
    """The code a phone would show that the console has not seen used yet."""
    with app.extensions["bot"].uow() as uow:
        staff = uow.staff.by_email(email)
        assert staff is not None
        last = staff.totp_last_step
    now = mfa.time_step(console(app).clock())
    step = now if last is None else max(now, last + 1)
    assert step <= now + mfa.DRIFT_STEPS, "no unused code left in this window: advance the clock"
    return mfa.code_at(TOTP_SECRETS[email], step)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_counter = iter(range(10_000_000))


def seed_contact(
    app: Any,
    *,
    phone: str | None = None,
    name: str = "Amina",
    last_inbound: dt.datetime | None = None,
    state: str = "bot",
    escalation: str | None = "human_requested",
    body: str = "my child has a fever",
    level: str = "routine",
    costs: tuple[float | None, ...] = (0.001, 0.002),
    created: dt.datetime | None = None,
) -> dict[str, int]:
    """Store a small conversation straight into the database; return the ids made."""
    n = next(_counter)
    phone = phone or f"whatsapp:+2547{n:08d}"
    now = created or utcnow()
    with app.extensions["bot"].uow() as uow:
        contact = Contact(
            wa_id=phone.removeprefix("whatsapp:+"), phone=phone, profile_name=name,
            country="KE", language="en", state=state, created_at=now, updated_at=now,
            last_inbound_at=last_inbound if last_inbound is not None else now,
        )
        uow.session.add(contact)
        uow.session.flush()
        inbound = Message(contact_id=contact.id, direction="in", body=body, status="received",
                          twilio_sid="SM" + secrets.token_hex(16), triage_level=level,
                          rule_ids=["fever.child"], language="en", created_at=now)
        uow.session.add(inbound)
        uow.session.flush()
        answer = Message(contact_id=contact.id, direction="out", body="Give fluids. " + body,
                         status="delivered", triage_level=level, rule_ids=["fever.child"],
                         model="openai/gpt-test", mode="contemplate", reply_to_id=inbound.id,
                         created_at=now + dt.timedelta(seconds=2))
        uow.session.add(answer)
        uow.session.flush()
        for i, cost in enumerate(costs):
            uow.session.add(ModelCallRow(
                message_id=answer.id, provider="openai", model="gpt-test",
                perspective=["triage_nurse", "clinician", "pharmacist"][i % 3], mode="contemplate",
                outcome="ok", input_tokens=10, output_tokens=20, latency_ms=12.0, cost_usd=cost,
                created_at=now,
            ))
        ids = {"contact_id": contact.id, "inbound_id": inbound.id, "answer_id": answer.id}
        if escalation:
            event = SafetyEvent(contact_id=contact.id, message_id=inbound.id, kind=escalation,
                                level=level, status="open", created_at=now)
            uow.session.add(event)
            uow.session.flush()
            ids["event_id"] = event.id
        uow.commit()
    return ids


def csrf_of(client: Any) -> str:
    """Return the browser session's CSRF token, opening the login page first if needed."""
    # The session cookie lives under /admin, so look at the session from there.
    with client.session_transaction("/admin/") as session:
        token = session.get("csrf")
    if token is None:
        client.get("/admin/login")
        with client.session_transaction("/admin/") as session:
            token = session["csrf"]
    return str(token)


def login(client: Any, email: str, password: str = PASSWORD, **environ: Any) -> Any:
    """Sign in as a person would: the password, then, for an enrolled account, the code.

    Returns the last response: the password step's when it failed or needs no code.
    """
    response = client.post("/admin/login", data={"email": email, "password": password,
                                                 "csrf_token": csrf_of(client)},
                           environ_base=environ)
    if (response.status_code == 302 and response.headers["Location"] == "/admin/login/code"
            and email in TOTP_SECRETS):
        response = client.post("/admin/login/code",
                               data={"code": next_code(client.application, email),
                                     "csrf_token": csrf_of(client)},
                               environ_base=environ)
    return response
