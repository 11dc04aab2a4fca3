"""Secrets for the staff console: the app secret, password hashing, random tokens, keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import cached_property
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.config import Settings

SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
TOKEN_PREFIX = "hbt_"  # noqa: S105 - marks our tokens so a leaked one is recognisable
MIN_PASSWORD = 12


def app_secret(settings: Settings) -> bytes:
    """Return HEALTHBOT_SECRET_KEY, else the random secret kept in the instance folder.

    The file is created atomically (write a temporary file, then hard-link it into place), so
    two processes starting at once agree on one secret.
    """
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode()
    path = settings.instance_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        temp.write_text(secrets.token_hex(32) + "\n", "utf-8")
        temp.chmod(0o600)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process won the race: use its secret
        finally:
            temp.unlink()
    return Path(path).read_text("utf-8").strip().encode()


def keyed_hash(secret: bytes, kind: str, value: object) -> str:
    """Return HMAC-SHA256(secret, "kind:value") in hex: linkable, not reversible without the key."""
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Return the sha256 of a high-entropy token (no salt needed: the token is random)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


class Passwords:
    """Argon2id password hashing (argon2-cffi's recommended parameters)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    @cached_property
    def _dummy(self) -> str:
        """A hash to verify against when the account does not exist, so both take as long."""
        # Made on first use: a hash costs a third of a second, which start-up need not pay.
        return self._hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Return True when `password` matches `stored`; spend the same time when there is none."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


def password_problem(password: str) -> str | None:
    """Return why a password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > 1024:
        return "the password is too long"
    return None
