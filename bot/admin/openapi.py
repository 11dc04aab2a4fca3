"""The staff API's contract: views declare it with `@documented(...)`, spectree checks it.

`documented` wraps spectree's `validate`: it validates the view's query string, JSON body and
headers against the pydantic models the view's parameters are annotated with (`query`, `json`,
`headers`; bot/admin/api_models.py), validates what the view returns against the success model,
and records the route for the OpenAPI document served at GET /admin/api/openapi.json, which is
generated from those models (`openapi_document`), never written by hand.

Every error is the `Error` model, documented for each status the route can give: 400 (the input
breaks its model, or the console refuses it), 401/403 (token, role), 500 (a bug, logged) and 503
(database outage) on every route; 404 on routes with an id in the path; 413/415 on routes that
take a body; and whatever else the view names (409 conflicts, 502 Twilio).

(This module used to hold the document as a hand-written dict, which drifted from what the API
answered; every route now declares its contract here instead.)
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Callable
from typing import Any

from flask import Response, abort, jsonify, request
from pydantic import BaseModel, ValidationError
from spectree import Response as Responses
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.utils import get_request_model_hints
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, Map
from werkzeug.routing import ValidationError as NoSuchId

from bot.admin.api_models import Error
from bot.admin.console import QUICK_REPLY_NAME

log = logging.getLogger(__name__)

# What each error status means on this API (the `reason` in the body says more).
STATUS_TEXT = {
    400: "The input is not acceptable: it breaks the documented shape, or the console refused it",
    401: "No valid bearer token (missing, unknown, revoked, or its account is switched off)",
    403: "Your role is not enough for this",
    404: "No such row",
    409: "It conflicts with the current state",
    413: "The body is larger than the server accepts (64 KiB)",
    415: "The body is not JSON",
    422: "The input is well formed but can't be used",
    429: "Too many attempts; see Retry-After",
    500: "The server failed (logged)",
    502: "Twilio refused the message; try again",
    503: "The database is unavailable (see Retry-After), or sending is not configured",
}
ALWAYS = (400, 401, 403, 500, 503)
REQUEST_PARTS = ("query", "json", "form", "headers", "cookies")
# Extra media types of a response (operation id -> status -> media type -> model or None for a
# plain string), for the one route that answers with something other than JSON: the export.
_EXTRA_CONTENT: dict[str, tuple[int, dict[str, type[BaseModel] | None]]] = {}
# The JSON body model of each view that takes one (by view name), and the views whose body may
# be left out (`documented(..., optional_body=True)`: a claim for oneself).
_BODY_MODELS: dict[str, type[BaseModel]] = {}
_BODY_OPTIONAL: set[str] = set()


def error_response(status: int, error: str, reason: str) -> Response:
    """The one error shape of the API: {"error": code, "reason": sentence}."""
    response = jsonify(Error(error=error, reason=reason).model_dump())
    response.status_code = status
    return response


def _describe(exc: ValidationError) -> str:
    """Say which fields are wrong and how, without echoing what was sent (it may be a password)."""
    problems = []
    for problem in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(part) for part in problem["loc"]) or "the body"
        problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)


def _refuse_invalid_request(_req: Any, _resp: Any, error: Exception | None, _instance: Any,
                            _adapter: Any) -> None:
    # spectree calls this after checking the request; answer in the API's own error shape.
    if isinstance(error, ValidationError):
        abort(error_response(400, "bad_request", _describe(error)))


def _refuse_undocumented_response(_req: Any, _resp: Any, error: Exception | None,
                                  _instance: Any, _adapter: Any) -> None:
    # The view returned something its model does not describe: a bug here, never the caller's.
    # Logged with the fields' names only (the values are health data).
    if isinstance(error, ValidationError):
        log.error("%s %s answered outside its documented shape: %s", request.method,
                  request.path, _describe(error))
        abort(error_response(500, "server_error", "the answer did not match the API document"))


MAX_ID = 2**31 - 1  # the database's integer: a larger id names nothing
# Text path parameters, as the console checks them (a quick reply's name). The route takes any
# text so that the console's own refusal (400) answers a malformed one, as the pages do.
PATH_PATTERNS = {"name": f"^{QUICK_REPLY_NAME.pattern}$"}


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: a row id from 1 to MAX_ID. Any other number names nothing: 404.

    werkzeug's `int(min=..., max=...)` answers 405 instead when the same path takes another
    method (it matches the path, then finds the number out of range); ids are never that.
    """

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)

    def to_python(self, value: str) -> int:
        try:
            number: int = super().to_python(value)
        except NoSuchId:
            raise NotFound(f"no row has the id {value[:20]}") from None
        return number


class _Plugin(FlaskPlugin):
    """spectree's Flask plugin, knowing the `id` converter."""

    def parse_path(self, route: Any, path_parameter_descriptions: Any) -> tuple[str, list[Any]]:
        path, parameters = super().parse_path(route, path_parameter_descriptions)
        for parameter in parameters:
            if parameter["schema"] is None:  # a converter spectree does not know: ours
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
            elif parameter["name"] in PATH_PATTERNS:
                parameter["schema"]["pattern"] = PATH_PATTERNS[parameter["name"]]
        return path, parameters

    def validate_response(self, resp: Any, resp_model: Any, skip_validation: bool,
                          force_resp_serialize: bool) -> Any:
        # A stream (the live events) passes on as it is: spectree would read it whole first,
        # holding the request for the stream's whole life.
        if isinstance(resp, Response) and resp.is_streamed:
            return resp, None
        return super().validate_response(resp, resp_model, skip_validation,
                                         force_resp_serialize)


# Module-level, unlike the app's services: the decorators need it when api.py is imported. It
# keeps only what they declare, and the document (made once, on the first request for it) is the
# same for every app.
spec = SpecTree(
    "flask",
    backend=_Plugin,
    title="healthbot staff API",
    version="1",
    description="Transcripts, escalations, handoff, export and erasure. Every call needs "
    "`Authorization: Bearer <staff API token>` (`healthbot staff token EMAIL`); roles: "
    "viewer < clinician < admin. Lists take `page` and `per_page` (at most 200) and answer "
    "with `page`, `per_page` and `total`. Every error is `{\"error\", \"reason\"}`.",
    mode="strict",  # only the views decorated here, not the pages or the webhook
    annotations=True,  # views receive `query`, `json` and `headers` as validated models
    security_schemes=[SecurityScheme(
        name="bearer",
        data=SecuritySchemeData(type=SecureType.HTTP, scheme="bearer", bearer_format="hbt_..."),
    )],
    security={"bearer": []},
    validation_error_status=400,
    validation_error_model=Error,
    before=_refuse_invalid_request,
    after=_refuse_undocumented_response,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)


def documented(
    ok: type[BaseModel] | None,
    *errors: int,
    status: int = 200,
    content: dict[str, type[BaseModel] | None] | None = None,
    optional_body: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a view's contract: `ok` is the success body's model (answered with `status`),
    `errors` the statuses it can give beyond the usual ones (see the module docstring).

    The view's `query`, `json` and `headers` parameters, annotated with models, are filled with
    the validated request. `content` documents a response that is not (only) JSON instead of
    `ok`: {media type: model, or None for text}; such a response is not validated here.
    `optional_body`: the JSON body may be left out (its model must accept `{}`).
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        parts = get_request_model_hints(view)
        codes = {*ALWAYS, *errors}
        if "json" in parts:
            codes |= {413, 415}
            _BODY_MODELS[view.__name__] = parts["json"]
            if optional_body:
                parts["json"].model_validate({})  # fails at import if it can't be left out
                _BODY_OPTIONAL.add(view.__name__)
        if set(inspect.signature(view).parameters) - set(REQUEST_PARTS):
            codes.add(404)  # an id in the path that may name nothing
        models: dict[str, Any] = {f"HTTP_{status}": ok}
        models |= {f"HTTP_{code}": (Error, STATUS_TEXT[code]) for code in sorted(codes)}
        if content is not None:
            _EXTRA_CONTENT[view.__name__] = (status, content)
        wrapped: Callable[..., Any] = spec.validate(
            resp=Responses(**models), operation_id=view.__name__
        )(view)
        return wrapped

    return decorate


def missing_body(view: Callable[..., Any]) -> str | None:
    """Why the view can't do without a JSON body (its model's required fields, if any), or
    None when it can: it takes none, or its body is optional."""
    model = _BODY_MODELS.get(view.__name__)
    if model is None or view.__name__ in _BODY_OPTIONAL:
        return None
    try:
        model.model_validate({})
    except ValidationError as exc:
        return "send a JSON object as the body: " + _describe(exc)
    return "send a JSON object as the body"


def openapi_document() -> dict[str, Any]:
    """Return the API description generated from the decorated views (a fresh copy each time)."""
    document: dict[str, Any] = copy.deepcopy(spec.spec)
    schemas = document["components"]["schemas"]
    for item in document["paths"].values():
        for operation in item.values():
            if operation.get("operationId") in _BODY_OPTIONAL:
                operation["requestBody"]["required"] = False
            extra = _EXTRA_CONTENT.get(operation.get("operationId", ""))
            if extra is None:
                continue
            status, media = extra
            content = operation["responses"][str(status)].setdefault("content", {})
            for media_type, model in media.items():
                content[media_type] = {"schema": _component(schemas, model)}
    return document


def _component(schemas: dict[str, Any], model: type[BaseModel] | None) -> dict[str, Any]:
    if model is None:
        return {"type": "string"}
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}",
                                      mode="serialization")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}
