"""The curated health knowledge base: pydantic-validated topic files, searched with FTS5 BM25."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

logger = logging.getLogger(__name__)

# The order of the answer_* columns in the index (and of the six bm25() weights below).
LANGUAGES: tuple[str, ...] = ("en", "es", "pt", "fr", "sw", "hi")

LevelHint = Literal["self_care", "routine", "urgent"]

# bm25() is negative, more negative is better; it is flipped so a higher score is better. The
# first weight is for the unindexed topic_id column.
_META_SQL = "SELECT topic_id, -bm25(meta_fts, 0, ?, ?) FROM meta_fts WHERE meta_fts MATCH ?"
_ANSWER_SQL = (
    "SELECT topic_id, -bm25(answer_fts, 0, ?, ?, ?, ?, ?, ?)"
    " FROM answer_fts WHERE answer_fts MATCH ?"
)

# The index is two FTS5 tables. Title and keywords are short and curated, so their BM25 is the
# main signal. Answers are scored in a separate table because common health words ("fever",
# "homa", "clinic") appear in most answers: in one shared table their inverse document frequency
# collapses to nothing and they stop telling topics apart.
# Title words are usually keywords too, so a title word already counts twice.
_TITLE_WEIGHT = 1.0
_KEYWORDS_WEIGHT = 1.0
# Answer text only breaks ties and rescues questions phrased unlike any keyword; the answer in
# the asker's language counts more than translations that mostly repeat the same words.
_ANSWER_FACTOR = 0.35
_ANSWER_WEIGHT_ASKED = 1.0
_ANSWER_WEIGHT_OTHER = 0.3

# Calibrated on tests/unit/test_knowledge.py: one keyword match ("malaria") scores well above
# this, while a stray word that only appears in answer text ("rice", "weather") stays below it.
DEFAULT_MIN_SCORE = 2.5

# A private-use character: FTS5's unicode61 tokenizer keeps it as a token, but tokenize() never
# yields it (it is not a word character), so no query can ever match the padding.
_PAD = "\ue000"

# Scripts whose words we index: letters, digits, and the Indic vowel signs that Python's \w
# does not count as word characters (without them Hindi words would be cut into pieces).
_TOKEN_RE = re.compile(r"(?:[^\W_]|[\u0900-\u0dff])+")

# Words that say nothing about the topic, per language, after casefolding and accent stripping.
_STOP_WORDS_TEXT = (
    # en
    "a an and are as at be been but by can could do does did for from had has have having he her"
    " him his how i if in into is it its me my of on or our she so some than that the their them"
    " then there these they this to too was we were what when where which who whom why will with"
    " would you your yours am im ive dont cant about any get got should shall may might must very"
    " just also please help hi hello thanks thank need want know tell much many ok yes no not"
    " whats something anything bad really since yesterday today tonight now lot little bit feel"
    " feeling felt getting thing things someone people person ago still always sometimes often"
    " time times day days week weeks month months year years old hours way best good morning"
    " evening afternoon"
    # es
    " el la los las un una unos unas de del al y o que en es son por para con sin mi mis tu tus su"
    " sus se lo le les me te como cual cuando donde porque pero muy mas ya hay tengo tiene tienen"
    " estoy esta estan este esto eso hola gracias ayuda puedo hacer hago debo si muy mucho desde"
    " ayer hoy dia dias tiene buenos buenas noches tardes"
    # pt
    " o os as um uma uns umas do da das no na nos nas ao aos e em com sem meu minha meus minhas"
    " seu sua seus suas voce eu ele ela isso isto esse essa como quando onde porque mas muito"
    " tem tenho estou esta sao ola obrigado obrigada ajuda posso fazer faco devo muito ontem hoje"
    " bom boa"
    # fr
    " le les des du de la un une et ou en au aux a est sont pour par avec sans mon ma mes ton ta"
    " tes son sa ses je tu il elle nous vous ils elles ce cet cette ces qui que quoi comment quand"
    " pourquoi mais tres plus ai as avons avez ont suis es sommes etes bonjour merci aide puis"
    " faire dois j l d qu c n s m t y tres depuis hier aujourd hui jours"
    # sw
    " na ya wa za la cha vya kwa ni katika au lakini nina ana una mimi wewe yeye sisi nini gani"
    " vipi je habari asante tafadhali msaada hii huyu hiyo kama sana pia wangu yangu changu"
    " langu wako yako tangu jana leo siku nataka ninataka unataka anataka"
    # hi (Devanagari and Hinglish)
    " है हैं का की के को में से और या मैं मुझे मेरा मेरी मेरे क्या कैसे क्यों कब यह वह भी तो हो"
    " hai hain ka ki ke ko mein me se aur ya main mujhe mera meri mere kya kaise kyun kab yeh"
    " woh bhi toh ho raha rahi rahe tha thi hu hoon kar karna karu bahut kal aaj din बहुत कल आज"
    " aa nahi gaya gayi lag hua hui lene dikkat takleef problem problems issue"
)
_STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS_TEXT.split())


class KnowledgeError(Exception):
    """The knowledge base could not be loaded: a topic file is missing, malformed or invalid."""


def _strip_latin_accents(text: str) -> str:
    """Remove diacritics from Latin letters only; Indic vowel signs are letters, not accents."""
    if text.isascii():
        return text
    out: list[str] = []
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char) and out and out[-1].isascii():
            continue
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def tokenize(text: str) -> list[str]:
    """Casefold, strip Latin accents and split into word tokens (stop words kept)."""
    return _TOKEN_RE.findall(_strip_latin_accents(text.casefold()))


def content_tokens(text: str) -> list[str]:
    """The tokens of a question that can say what it is about: no stop words, no duplicates."""
    seen: dict[str, None] = {}
    for token in tokenize(text):
        if token not in _STOP_WORDS and not token.isdigit():
            seen.setdefault(token, None)
    return list(seen)


def _prefix(token: str) -> str:
    """A crude multilingual stem, matched as a prefix, so plurals and -ing forms still match."""
    if not token.isascii() or len(token) < 5:
        return token
    if len(token) <= 6:
        # Short words only lose a plural "s" ("fevers", "bites"): cutting more would make
        # "broken" match "broke" or "cough" match "cou...".
        return token[:-1] if token.endswith("s") else token
    return token[: max(5, len(token) - 3)]


def build_match_query(text: str) -> str | None:
    """Turn free user text into a safe FTS5 query: every token quoted, OR-ed, prefix-matched."""
    terms: list[str] = []
    for token in content_tokens(text):
        stem = _prefix(token).replace('"', '""')
        # Short tokens match exactly: "tb"* would match every word starting with "tb".
        term = f'"{stem}"' if len(stem) <= 3 else f'"{stem}"*'
        if term not in terms:
            terms.append(term)
    if not terms:
        return None
    return " OR ".join(terms[:32])  # a pasted essay must not become a huge query


class VettedText(BaseModel):
    """What every vetted answer has: a title and an answer per language, sources, a review date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: dict[str, str]
    answer: dict[str, str]
    level_hint: LevelHint
    sources: tuple[str, ...] = Field(min_length=1)
    reviewed: date

    @field_validator("title", mode="before")
    @classmethod
    def _title_mapping(cls, value: Any) -> Any:
        # A plain string is the English title; a mapping gives translations too.
        return {"en": value} if isinstance(value, str) else value

    @field_validator("title", "answer")
    @classmethod
    def _languages(cls, value: dict[str, str]) -> dict[str, str]:
        if "en" not in value:
            raise ValueError("an English ('en') entry is required")
        unknown = sorted(set(value) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"unknown language codes {unknown}; expected some of {LANGUAGES}")
        empty = sorted(lang for lang, text in value.items() if not text.strip())
        if empty:
            raise ValueError(f"empty text for {empty}")
        return {lang: text.strip() for lang, text in value.items()}

    @field_validator("sources")
    @classmethod
    def _https(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not re.fullmatch(r"https://[\w.-]+\.[a-z]{2,}(/\S*)?", url):
                raise ValueError(f"source {url!r} is not an https URL")
        return value

    def title_in(self, language: str) -> str:
        """The title in `language`, or in English when there is no translation."""
        return self.title.get(language, self.title["en"])

    def answer_in(self, language: str) -> tuple[str, str]:
        """The answer in `language` if translated, else English; returns (language, text)."""
        if language in self.answer:
            return language, self.answer[language]
        return "en", self.answer["en"]

    @property
    def main_source(self) -> str:
        return self.sources[0]


class Topic(VettedText):
    """One curated topic: what to do at home, the warning signs and when to seek care."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    keywords: tuple[str, ...] = Field(min_length=5)


@dataclass(frozen=True, slots=True)
class Hit:
    """A topic that matched a question; a higher score is a better match."""

    topic: Topic
    score: float


def _topic_files(root: Traversable) -> list[Traversable]:
    return sorted(
        (entry for entry in root.iterdir() if entry.name.endswith((".yaml", ".yml"))),
        key=lambda entry: entry.name,
    )


def parse_topic(text: str, name: str) -> Topic:
    """Parse and validate one topic file's text; errors name the file and the problem."""
    try:
        # The C loader (when PyYAML was built with libyaml) parses the topics several times faster.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"topic file {name}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise KnowledgeError(f"topic file {name}: expected a mapping at the top level")
    try:
        return Topic.model_validate(data)
    except ValidationError as exc:
        raise KnowledgeError(f"topic file {name}: {exc}") from exc


def load_topics(root: Traversable | None = None) -> list[Topic]:
    """Load and validate every topic file shipped in bot/knowledge/topics (or under `root`)."""
    folder = root if root is not None else resources.files("bot.knowledge").joinpath("topics")
    topics: list[Topic] = []
    seen: dict[str, str] = {}
    for entry in _topic_files(folder):
        topic = parse_topic(entry.read_text(encoding="utf-8"), entry.name)
        if topic.id in seen:
            raise KnowledgeError(
                f"topic file {entry.name}: id {topic.id!r} already used by {seen[topic.id]}"
            )
        seen[topic.id] = entry.name
        topics.append(topic)
    if not topics:
        raise KnowledgeError(f"no topic files found in {folder}")
    return topics


def normalised_tokens(texts: Iterable[str], *, distinct: bool = False) -> str:
    # Index the same normalised tokens the query is made of, so both sides agree on accents.
    tokens = [token for text in texts for token in tokenize(text)]
    if distinct:
        # In a keyword list, repetition ("child fever, sick child, child danger...") says
        # nothing about relevance; counting it would let broad words outscore specific ones.
        tokens = list(dict.fromkeys(tokens))
    return " ".join(tokens)


def pad_to_same_length(columns: Sequence[str]) -> list[str]:
    """Pad each column's token list to the longest one, so BM25 length normalisation is neutral."""
    # FTS5's bm25() has a fixed b=0.75: a topic with many synonyms would score lower for the
    # same single keyword match than a topic with few. For a bag of distinct keywords length
    # says nothing about relevance, so every row is given the same length.
    lengths = [len(column.split()) for column in columns]
    longest = max(lengths, default=0)
    return [
        " ".join([column, *([_PAD] * (longest - length))]).strip()
        for column, length in zip(columns, lengths, strict=True)
    ]


class KnowledgeBase:
    """The topics plus an in-memory FTS5 index; build once at start-up, share between threads."""

    def __init__(self, topics: Sequence[Topic], *, min_score: float = DEFAULT_MIN_SCORE) -> None:
        if not topics:
            raise KnowledgeError("a knowledge base needs at least one topic")
        self.topics: tuple[Topic, ...] = tuple(topics)
        self.min_score = min_score
        self._by_id: Mapping[str, Topic] = {topic.id: topic for topic in self.topics}
        self._order: Mapping[str, int] = {topic.id: i for i, topic in enumerate(self.topics)}
        digest = hashlib.sha256()
        for topic in self.topics:
            digest.update(topic.model_dump_json().encode())
        self.version = digest.hexdigest()[:10]
        # One connection guarded by a lock: queries take well under a millisecond, so
        # serialising them costs nothing and avoids one index copy per thread.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        # Text is normalised by tokenize() before indexing, so the tokenizer only splits on spaces.
        self._db.execute(
            "CREATE VIRTUAL TABLE meta_fts USING fts5(topic_id UNINDEXED, title, keywords,"
            " tokenize = 'unicode61 remove_diacritics 0')"
        )
        self._db.execute(
            "CREATE VIRTUAL TABLE answer_fts USING fts5(topic_id UNINDEXED,"
            " answer_en, answer_es, answer_pt, answer_fr, answer_sw, answer_hi,"
            " tokenize = 'unicode61 remove_diacritics 0')"
        )
        titles = [normalised_tokens(t.title.values(), distinct=True) for t in self.topics]
        keywords = [normalised_tokens(t.keywords, distinct=True) for t in self.topics]
        with self._db:
            self._db.executemany(
                "INSERT INTO meta_fts VALUES (?, ?, ?)",
                zip(
                    (t.id for t in self.topics),
                    pad_to_same_length(titles),
                    pad_to_same_length(keywords),
                    strict=True,
                ),
            )
            self._db.executemany(
                "INSERT INTO answer_fts VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (t.id, *(normalised_tokens([t.answer.get(lang, "")]) for lang in LANGUAGES))
                    for t in self.topics
                ],
            )

    def close(self) -> None:
        """Free the index; only for short-lived instances (tests, tools), not the shared one."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @classmethod
    def load(cls, root: Traversable | None = None) -> KnowledgeBase:
        """Load the shipped topic files and build the index."""
        return cls(load_topics(root))

    def get(self, topic_id: str) -> Topic:
        """The topic with this id; KeyError if there is none."""
        return self._by_id[topic_id]

    def search(self, query: str, language: str | None = None, limit: int = 3) -> list[Hit]:
        """The best-matching topics for free text, best first; empty when nothing is relevant."""
        if limit <= 0:
            return []
        return self.rank(self.score_topics(query, language), limit)

    def rank(self, scores: Mapping[str, float], limit: int = 3) -> list[Hit]:
        """Hits for the best `limit` scores that reach the relevance threshold, best first."""
        # Ties fall back to the file order so results are deterministic.
        ranked = sorted(scores.items(), key=lambda item: (-item[1], self._order[item[0]]))
        return [
            Hit(topic=self._by_id[topic_id], score=score)
            for topic_id, score in ranked[: max(0, limit)]
            if score >= self.min_score
        ]

    def score_topics(self, query: str, language: str | None = None) -> dict[str, float]:
        """The raw relevance of every topic that matches any word of `query` (no threshold)."""
        match = build_match_query(query)
        if match is None:
            return {}
        answer_weights = [
            1.0
            if language is None
            else _ANSWER_WEIGHT_ASKED
            if lang == language
            else _ANSWER_WEIGHT_OTHER
            for lang in LANGUAGES
        ]
        try:
            with self._lock:
                meta_rows = self._db.execute(
                    _META_SQL, (_TITLE_WEIGHT, _KEYWORDS_WEIGHT, match)
                ).fetchall()
                answer_rows = self._db.execute(_ANSWER_SQL, (*answer_weights, match)).fetchall()
        except sqlite3.OperationalError:
            # FTS5 reports query syntax errors this way. Every token is quoted, so this should be
            # unreachable, but user text must never crash the last-resort model.
            logger.exception("knowledge base search failed for match query %r", match)
            return {}
        scores: dict[str, float] = {}
        for topic_id, score in meta_rows:
            scores[topic_id] = float(score)
        for topic_id, score in answer_rows:
            scores[topic_id] = scores.get(topic_id, 0.0) + _ANSWER_FACTOR * float(score)
        return scores
