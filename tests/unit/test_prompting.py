from __future__ import annotations

from bot.prompting import Turn, history_window, system_prompt


def test_newest_turns_kept_within_budget_oldest_dropped_first() -> None:
    turns = [Turn("user" if i % 2 == 0 else "assistant", f"turn {i} " + "x" * 90)
             for i in range(20)]
    window = history_window(turns, budget_chars=450)
    assert sum(len(m.content) for m in window) <= 450
    assert window[-1].content.startswith("turn 19")
    assert window[0].role == "user"  # never starts with the assistant
    kept = [int(m.content.split()[1]) for m in window]
    assert kept == sorted(kept) and kept[-1] == 19 and 0 not in kept


def test_newest_turn_always_kept_even_if_over_budget() -> None:
    window = history_window([Turn("user", "a" * 1000)], budget_chars=300)
    assert len(window) == 1 and len(window[0].content) == 300


def test_system_prompt_names_language_and_level() -> None:
    prompt = system_prompt("sw", "urgent")
    assert "Swahili" in prompt and "urgent" in prompt
