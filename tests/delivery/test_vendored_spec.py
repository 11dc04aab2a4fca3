"""The Twilio OpenAPI spec the contract tests serve is inside the repository, unchanged."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.delivery.conftest import ROOT, TWILIO_SPEC

# The sha256 published with the spec's provenance (tests/fixtures/twilio/openapi/README.md).
HERE = Path(__file__).resolve()
SPEC_SHA256 = "99cae87a6bb1725f71363364cbd30282a13140374b2d5f9bdd5bdfa5d4c8a6d7"


def test_the_spec_is_vendored_unchanged() -> None:
    spec = (ROOT / TWILIO_SPEC).resolve()
    assert spec.is_relative_to(ROOT / "tests") and spec.exists()
    assert hashlib.sha256(spec.read_bytes()).hexdigest() == SPEC_SHA256
    assert "MIT License" in (spec.parent / "README.md").read_text("utf-8")


def test_nothing_in_tests_or_ci_reads_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|\bshared/twilio")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in (ROOT / "tests", ROOT / ".ci")
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in (".py", ".sh", ".cfg", ".toml", "")
        and path != HERE
        and outside.search(path.read_text("utf-8", errors="replace"))
    ]
    assert offenders == []
