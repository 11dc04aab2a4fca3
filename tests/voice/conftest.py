"""Voice tests need espeak-ng and ffmpeg (Debian packages; .ci/run installs them)."""

from __future__ import annotations

import os

import pytest

from tests.voice.voice_fakes import tools_missing

REQUIRE_SERVICES = os.environ.get("HEALTHBOT_TEST_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def speech_tools() -> None:
    missing = tools_missing()
    if missing and REQUIRE_SERVICES:
        pytest.fail(f"the voice tests need {', '.join(missing)} (apt-get install espeak-ng ffmpeg)")
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install espeak-ng ffmpeg)")
