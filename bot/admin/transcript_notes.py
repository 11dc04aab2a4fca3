"""What the safety layer and the delivery did to a conversation, said in words for staff.

The transcript shows messages as they were stored; these notes add what is not in a message's own
row, so a nurse doesn't take it at face value:

- guard notes: the reply guard repaired or replaced the model's draft (`reply_repaired`), the
  model's answer was not grounded in the vetted passages and the passage was sent instead
  (`reply_ungrounded`), or the model failed and the safe fallback text went out (`model_failed`).
  The pipeline records these events against the *inbound* message; they belong beside the
  answer that went out for it.
- a level drop: a person's message triaged lower than an earlier emergency. The pipeline holds a
  follow-up at the emergency's level while its escalation is open and younger than
  `EPISODE_WINDOW`; after staff resolve it, or after the window, a calm message gets a calm level.
- failed deliveries: Twilio's error code, in words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bot.pipeline import EPISODE_WINDOW
from bot.store.models import Message, SafetyEvent

FAILED_STATUSES = frozenset({"failed", "undelivered"})
GUARD_KINDS = frozenset({"reply_repaired", "reply_ungrounded", "model_failed"})
EMERGENCY_KINDS = frozenset({"emergency", "self_harm"})

# Twilio error codes seen when a WhatsApp message is not delivered (tests/../CONTRACT: A4).
# Twilio warns that causes move between codes over time: these are words for staff to read,
# never a decision the code takes; an unknown code is shown as itself.
DELIVERY_ERRORS = {
    "63016": "outside WhatsApp's 24-hour window: only an approved template can reach the person "
             "until they write again",
    "63003": "the number can't be reached on WhatsApp (not a WhatsApp account, or invalid)",
    "63024": "WhatsApp refused the recipient (invalid recipient)",
    "63015": "the Twilio Sandbox only messages numbers that joined it (or their join expired)",
    "63018": "too many messages: the WhatsApp sender's rate limit was exceeded",
    "63049": "Meta chose not to deliver this message",
    "21610": "the person has unsubscribed (blocked or sent STOP)",
    "21617": "the message was longer than 1,600 characters",
    "30003": "the phone is unreachable (switched off or out of coverage)",
    "30005": "unknown or inactive number",
    "30006": "the number can't receive this message (landline or unreachable network)",
    "30007": "filtered by the network as spam",
    "30008": "unknown error from WhatsApp or the network",
}

# Which rule of the reply guard (safety.check_reply) a repair came from, as a phrase.
GUARD_RULES = {
    "certain_diagnosis": "a sentence stating a diagnosis as certain",
    "prescription_dose": "a prescription-medicine dose",
    "child_dose": "a medicine dose for a child",
    "stop_treatment": "advice to stop a treatment",
    "claims_human": "a claim to be a person or a doctor",
    "urgency_too_low": "reassurance or delay where care is needed soon",
    "link_not_allowed": "a link to a site that is not on the allowed list",
    "prompt_injection": "text following instructions smuggled into the conversation",
    "empty_reply": "an empty reply",
}


def delivery_error_text(code: str | None) -> str | None:
    """Say what a Twilio error code means; the raw code when it is not one we know."""
    if not code:
        return None
    return DELIVERY_ERRORS.get(code, f"Twilio error {code}")


def guard_note(event: SafetyEvent) -> dict[str, Any]:
    """Describe one guard event in words, with the rule and what was done."""
    detail = event.detail or {}
    rule = detail.get("violation")
    action = detail.get("action")
    what = GUARD_RULES.get(str(rule), str(rule or "a rule").replace("_", " "))
    if event.kind == "model_failed":
        rule, action = None, "safe_fallback"
        error = str(detail.get("error") or "no answer")
        text = f"The model failed ({error}); the safety layer's fallback text was sent instead."
    elif event.kind == "reply_ungrounded":
        rule, action = "ungrounded", "replaced_by_passage"
        support = detail.get("support")
        # The pipeline sends the best-matching passage, the first one listed.
        sent = next(iter(detail.get("passages") or []), None)
        text = ("The model's answer did not rest on the vetted passages"
                + (f" (support {support})" if support is not None else "")
                + "; the vetted passage" + (f" {sent}" if sent else "") + " was sent instead.")
    elif action == "removed_sentence":
        text = f"The safety guard removed {what}."
    elif action == "replaced_reply":
        text = f"The safety guard replaced the whole reply with safe fallback text ({what})."
    elif action == "appended_urgency":
        text = "The safety guard added advice to seek care: the draft did not say how soon."
    elif action == "replaced_by_passage":
        text = f"In the model's draft, which was not sent, the safety guard found {what}."
    else:
        text = f"The safety guard changed the reply ({what})."
    return {
        "event_id": event.id,
        "kind": event.kind,
        "rule": rule,
        "action": action,
        "excerpt": detail.get("excerpt"),
        "model": detail.get("model"),
        "text": text,
    }


def guard_notes(
    messages: Sequence[Message], events: Sequence[SafetyEvent]
) -> dict[int, list[dict[str, Any]]]:
    """Guard notes by the id of the message they belong beside: the answer to the event's
    inbound message (the rows stored with the event), else the inbound message itself."""
    replies: dict[int, list[Message]] = {}
    for message in messages:
        if message.direction == "out" and message.reply_to_id is not None:
            replies.setdefault(message.reply_to_id, []).append(message)
    notes: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        if event.kind not in GUARD_KINDS or event.message_id is None:
            continue
        answers = replies.get(event.message_id, [])
        # The answer's rows and the event share the turn's clock; failing that, the latest
        # answer (a welcome sent at once may precede it for the same message).
        same_turn = [m for m in answers if m.created_at == event.created_at]
        latest = max((m.created_at for m in answers), default=None)
        target = (same_turn or [m for m in answers if m.created_at == latest])
        target_id = target[0].id if target else event.message_id
        notes.setdefault(target_id, []).append(guard_note(event))
    return notes


def level_drops(
    messages: Sequence[Message], events: Sequence[SafetyEvent], staff_names: dict[int, str]
) -> dict[int, dict[str, Any]]:
    """The first message of the person's triaged lower than an earlier emergency, by its id,
    with why the level could fall (the escalation resolved, the episode's window over)."""
    emergency_events = {e.message_id: e for e in events
                        if e.kind in EMERGENCY_KINDS and e.message_id is not None}
    drops: dict[int, dict[str, Any]] = {}
    # The message that raised the emergency (a follow-up held at its level does not replace
    # it), and its escalation, whose status and age decide how long the level held.
    emergency: Message | None = None
    event: SafetyEvent | None = None
    for message in messages:
        if message.direction != "in":
            continue
        own_event = emergency_events.get(message.id)
        if own_event is not None:
            emergency, event = message, own_event
            continue
        if message.triage_level == "emergency":
            emergency = emergency or message
            continue
        if emergency is None or message.triage_level is None:
            continue  # a command, or nothing to compare with
        drops[message.id] = _drop(emergency, event, message, staff_names)
        emergency = event = None  # mark where it fell, not every calm message after it
    return drops


def _drop(
    emergency: Message, event: SafetyEvent | None, message: Message, staff_names: dict[int, str]
) -> dict[str, Any]:
    since = message.created_at - (event.created_at if event is not None else emergency.created_at)
    level = str(message.triage_level)
    resolved_at = event.resolved_at if event is not None else None
    if event is not None and resolved_at is not None and resolved_at <= message.created_at:
        reason = "resolved"
        who = staff_names.get(event.resolved_by_id) if event.resolved_by_id else None
        why = (f"after {who or 'staff'} resolved the emergency escalation "
               f"{_duration(message.created_at - resolved_at)} before this message")
    elif since > EPISODE_WINDOW:
        reason = "episode_ended"
        why = (f"{_duration(since)} after the emergency: the bot holds a follow-up at the "
               f"emergency level for {_duration(EPISODE_WINDOW)} only")
    else:
        reason = "within_episode"
        status = event.status if event is not None else "not recorded"
        why = (f"only {_duration(since)} after the emergency, whose escalation is {status}: "
               "check this message yourself")
    return {
        "from": "emergency",
        "to": level,
        "emergency_message_id": emergency.id,
        "emergency_at": emergency.created_at,
        "reason": reason,
        "text": f"Level fell from emergency to {level.replace('_', ' ')} {why}.",
    }


def _duration(delta: dt.timedelta) -> str:
    """Say a duration briefly: "40 min", "3 h 5 min", "26 h", "2 d 4 h"."""
    seconds = max(0, int(delta.total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days >= 2:
        return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"
    if hours:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{minutes} min" if minutes else f"{seconds} s"
