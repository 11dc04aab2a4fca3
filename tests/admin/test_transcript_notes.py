"""The words the transcript uses for what the guard, the episode logic and Twilio did, for each
case the pipeline records (the pages and JSON are tested end to end in
test_console_transcript_truth.py)."""

from __future__ import annotations

import datetime as dt
import inspect
import re

import pytest

from bot.admin.transcript_notes import (
    DELIVERY_ERRORS,
    GUARD_RULES,
    delivery_error_text,
    guard_note,
    guard_notes,
    level_drops,
)
from bot.store.models import Message, SafetyEvent
from safety import guard

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def _event(kind: str, detail: dict[str, object], *, message_id: int = 1,
           at: dt.datetime = T0, event_id: int = 7) -> SafetyEvent:
    return SafetyEvent(id=event_id, contact_id=1, message_id=message_id, kind=kind,
                       detail=detail, created_at=at)


def _message(message_id: int, direction: str, level: str | None, at: dt.datetime,
             reply_to: int | None = None) -> Message:
    return Message(id=message_id, contact_id=1, direction=direction, body="", status="x",
                   triage_level=level, reply_to_id=reply_to, created_at=at)


@pytest.mark.parametrize(
    ("detail", "text"),
    [
        ({"violation": "child_dose", "action": "removed_sentence"},
         "The safety guard removed a medicine dose for a child."),
        ({"violation": "claims_human", "action": "replaced_reply"},
         "The safety guard replaced the whole reply with safe fallback text (a claim to be a "
         "person or a doctor)."),
        ({"violation": "empty_reply", "action": "replaced_reply"},
         "The safety guard replaced the whole reply with safe fallback text (an empty reply)."),
        ({"violation": "urgency_too_low", "action": "appended_urgency"},
         "The safety guard added advice to seek care: the draft did not say how soon."),
        ({"violation": "stop_treatment", "action": "replaced_by_passage"},
         "In the model's draft, which was not sent, the safety guard found advice to stop a "
         "treatment."),
        ({"violation": "new_rule", "action": "something_new"},
         "The safety guard changed the reply (new rule)."),
    ],
)
def test_each_guard_action_in_words(detail: dict[str, object], text: str) -> None:
    note = guard_note(_event("reply_repaired", {**detail, "excerpt": "x", "model": "m/1"}))
    assert note["text"] == text
    assert (note["rule"], note["action"], note["excerpt"]) == (
        detail["violation"], detail["action"], "x")


def test_every_rule_the_guard_has_is_worded() -> None:
    # The kinds the guard can record, read from its code: a new rule needs words here.
    kinds = set(re.findall(r'return "([a-z_]+)"', inspect.getsource(guard._violation_of)))
    kinds |= set(re.findall(r'Violation\("([a-z_]+)"', inspect.getsource(guard.check_reply)))
    assert len(kinds) >= 9
    assert kinds == set(GUARD_RULES)


def test_model_failure_and_ungrounded_answers_in_words() -> None:
    failed = guard_note(_event("model_failed", {"error": "ModelTimeout: 25 s"}))
    assert failed["text"] == ("The model failed (ModelTimeout: 25 s); the safety layer's "
                              "fallback text was sent instead.")
    ungrounded = guard_note(_event("reply_ungrounded",
                                   {"support": 0.21, "passages": ["fever_adult", "cough"]}))
    assert ungrounded["text"] == ("The model's answer did not rest on the vetted passages "
                                  "(support 0.21); the vetted passage fever_adult was sent "
                                  "instead.")


def test_notes_go_beside_the_answer_of_the_same_turn() -> None:
    later = T0 + dt.timedelta(seconds=3)
    messages = [
        _message(1, "in", "routine", T0),
        _message(2, "out", "routine", T0, reply_to=1),  # the welcome, sent at once
        _message(3, "out", "routine", later, reply_to=1),  # the answer, two bubbles
        _message(4, "out", "routine", later, reply_to=1),
        _message(5, "in", None, later),  # a command: its event has no answer stored
    ]
    events = [_event("reply_repaired", {"violation": "child_dose",
                                        "action": "removed_sentence"}, at=later),
              _event("model_failed", {"error": "x"}, message_id=5, at=later, event_id=8),
              _event("urgent", {}, event_id=9)]
    notes = guard_notes(messages, events)
    assert {k: [n["event_id"] for n in v] for k, v in notes.items()} == {3: [7], 5: [8]}


def test_a_level_drop_within_an_open_episode_says_to_check() -> None:
    messages = [_message(1, "in", "emergency", T0),
                _message(2, "in", "routine", T0 + dt.timedelta(minutes=40))]
    event = _event("emergency", {}, message_id=1)
    event.status = "open"
    [(message_id, drop)] = level_drops(messages, [event], {}).items()
    assert message_id == 2 and drop["reason"] == "within_episode"
    assert drop["text"] == ("Level fell from emergency to routine only 40 min after the "
                            "emergency, whose escalation is open: check this message yourself.")


def test_a_second_emergency_is_watched_again() -> None:
    hour = dt.timedelta(hours=1)
    messages = [_message(1, "in", "emergency", T0), _message(2, "in", "info", T0 + 30 * hour),
                _message(3, "in", "emergency", T0 + 31 * hour),
                _message(4, "in", "self_care", T0 + 80 * hour)]
    drops = level_drops(messages, [], {})
    assert sorted(drops) == [2, 4]
    assert drops[4]["emergency_message_id"] == 3
    assert "2 d 1 h after the emergency" in drops[4]["text"]


def test_delivery_errors_in_words_with_the_raw_code_otherwise() -> None:
    assert delivery_error_text(None) is None
    assert delivery_error_text("63016") == DELIVERY_ERRORS["63016"]
    assert "24-hour window" in DELIVERY_ERRORS["63016"]
    assert delivery_error_text("63003") == DELIVERY_ERRORS["63003"]
    assert delivery_error_text("30008") == "unknown error from WhatsApp or the network"
    assert delivery_error_text("99999") == "Twilio error 99999"
