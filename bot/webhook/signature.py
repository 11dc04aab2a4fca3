"""Twilio request signatures: a pure function over the URL Twilio called and the posted fields."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator


def public_request_url(public_base: str, full_path: str) -> str:
    """Rebuild the URL Twilio signed from our configured public base and the request path+query.

    Behind a tunnel or a TLS proxy, Flask sees http://127.0.0.1:5000/...; Twilio signed the
    public https URL, so that is the one to check against (see CONTRACT.md A2).
    """
    path = full_path[:-1] if full_path.endswith("?") else full_path  # Werkzeug adds a bare "?"
    base = urlsplit(public_base)
    prefix = base.path.rstrip("/")
    return f"{base.scheme}://{base.netloc}{prefix}{path}"


def is_valid_signature(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """Return True when `signature` is Twilio's signature of url + params under auth_token.

    Uses the `twilio` package's validator, which also tries the URL with and without the
    default port; the final comparison is constant-time.
    """
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    candidates = {url}
    parts = urlsplit(url)
    if parts.port is None:
        default = 443 if parts.scheme == "https" else 80
        candidates.add(parts._replace(netloc=f"{parts.netloc}:{default}").geturl())
    else:
        candidates.add(parts._replace(netloc=parts.hostname or "").geturl())
    for candidate in candidates:
        expected = validator.compute_signature(candidate, dict(params))
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return True
    return False


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Compute the signature Twilio would send: for `healthbot chat` and the tests."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))
