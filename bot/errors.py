"""The error tree of the model layer. Adapters translate provider errors into these at the boundary.

    ModelError
    ├── ModelTimeout          the call did not finish in time (connect, read or our deadline)
    ├── ModelRateLimited      429/529 or a quota; `retry_after` seconds when the provider said so
    ├── ModelUnavailable      5xx, connection refused, model not found, bad key
    ├── ModelRefused          the provider's own safety filter blocked the prompt or the answer
    └── ModelBadResponse      a 200 that is empty, malformed or has an in-body error

The pipeline catches only `ModelError`; the router decides between retrying and failing over from
`retryable` and `retry_after`.
"""

from __future__ import annotations


class ModelError(Exception):
    """A model call failed; the caller falls back to another model or the offline answer."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable


class ModelTimeout(ModelError):
    retryable = True


class ModelRateLimited(ModelError):
    retryable = True


class ModelUnavailable(ModelError):
    retryable = True


class ModelRefused(ModelError):
    retryable = False


class ModelBadResponse(ModelError):
    retryable = False


class StoreError(Exception):
    """The conversation store could not do what was asked (connection lost, lock timeout...)."""


class EmbedderUnavailable(RuntimeError):
    """The configured sentence encoder cannot be loaded or reached."""
