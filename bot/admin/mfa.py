"""The second factor: TOTP codes (RFC 6238, via pyotp), their QR code, and recovery codes.

The TOTP secret is kept encrypted (Fernet, from `cryptography`) under a key derived from the app
secret, so a copy of the database alone does not hand out the staff's codes. Changing
HEALTHBOT_SECRET_KEY therefore makes every enrolled secret unreadable: the people concerned then
re-enrol after `healthbot staff reset-2fa EMAIL`.

A code is accepted for the current 30-second step and one step either side (phone clocks drift),
and only for a step after the last one accepted, so a code seen over someone's shoulder or
replayed from a captured request is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from markupsafe import Markup

from bot.admin.security import keyed_hash

ISSUER = "healthbot"
DRIFT_STEPS = 1  # steps accepted either side of now
RECOVERY_CODES = 10
STEP_SECONDS = 30  # pyotp's default, and every authenticator app's


class SecretUnreadable(Exception):
    """The stored TOTP secret can't be decrypted: the app secret changed since enrolment."""


def _fernet(app_secret: bytes) -> Fernet:
    # A key of its own for this purpose, derived from the app secret (HMAC as a KDF).
    raw = hmac.new(app_secret, b"healthbot totp secret encryption", "sha256").digest()
    return Fernet(base64.urlsafe_b64encode(raw))


def new_secret() -> str:
    """Return a fresh base32 TOTP secret (160 bits, what authenticator apps expect)."""
    return pyotp.random_base32(length=32)


def seal(app_secret: bytes, secret: str) -> str:
    return _fernet(app_secret).encrypt(secret.encode()).decode()


def unseal(app_secret: bytes, sealed: str) -> str:
    try:
        return _fernet(app_secret).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the TOTP secret can't be read with this app secret") from None


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The URI as an inline SVG QR code (no image request, so the strict CSP stays as it is)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    return Markup(svg)  # noqa: S704 - segno's own markup of our URI, no user text in it


def time_step(now: dt.datetime) -> int:
    """The 30-second step `now` falls in (RFC 6238's counter)."""
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: dt.datetime, last_step: int | None) -> int | None:
    """Return the step whose code `code` is, if it is near now and after `last_step`; else None."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = time_step(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def code_at(secret: str, step: int) -> str:
    """The code of one step (for tests and the CLI's checks)."""
    return pyotp.TOTP(secret).generate_otp(step)


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Return fresh recovery codes like "7f3a9-c21e0" (40 random bits each)."""
    return [f"{h[:5]}-{h[5:]}" for h in (secrets.token_hex(5) for _ in range(count))]


def looks_like_recovery_code(text: str) -> bool:
    plain = normal_recovery_code(text)
    return len(plain) == 10 and all(c in "0123456789abcdef" for c in plain)


def normal_recovery_code(text: str) -> str:
    return "".join(text.split()).replace("-", "").lower()


def recovery_hash(app_secret: bytes, code: str) -> str:
    """A keyed hash: the codes are short, so a plain hash of one could be searched for."""
    return keyed_hash(app_secret, "recovery-code", normal_recovery_code(code))
