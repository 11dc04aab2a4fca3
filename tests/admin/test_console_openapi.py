"""The staff API against its own OpenAPI document: schemathesis generates requests for every
operation (valid and invalid) and the app must never answer with a 5xx, and must answer as
documented (status codes, content types, response shapes)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.admin.support import bearer, make_staff, seed_contact

MAX_EXAMPLES = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_the_document_is_served_and_lists_every_api_route(sqlite_app: Any) -> None:
    document = sqlite_app.test_client().get("/admin/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {
        ("/admin/api" + path.replace("{", "<").replace("}", ">"), method.upper())
        for path, item in document["paths"].items()
        for method in item if method != "parameters"
    }
    served = set()
    for rule in sqlite_app.url_map.iter_rules():
        if rule.endpoint.startswith("admin_api.") and rule.endpoint != "admin_api.openapi":
            path = rule.rule
            for name in rule.arguments:
                path = path.replace(f"<int(min=1, max=2147483647):{name}>", f"<{name}>")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented


def test_api_never_fails_with_a_server_error(sqlite_app: Any) -> None:
    # A few rows to find, so generated ids 1, 2, 3 reach the code behind the 404s.
    for _ in range(3):
        seed_contact(sqlite_app)
    schema = schemathesis.openapi.from_wsgi("/admin/api/openapi.json", sqlite_app)
    results: list[Any] = list(schema.get_all_operations())
    operations = [result.ok() for result in results]
    assert len(operations) >= 18
    calls = 0
    for operation in operations:
        # A fresh admin per operation: a generated PATCH may demote or switch off the caller.
        _, _, token = make_staff(sqlite_app, "admin")
        calls += _fuzz(operation, GenerationMode.POSITIVE, CHECKS, token)
        calls += _fuzz(operation, GenerationMode.NEGATIVE, [not_a_server_error], token)
    assert calls > len(operations) * 2


def _fuzz(operation: Any, mode: GenerationMode, checks: list[Any], token: str) -> int:
    """Run generated cases of one operation; positive ones must also answer as documented."""
    calls = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call_and_validate(headers=bearer(token), checks=checks)
        assert response.status_code < 500, case.as_curl_command()

    run()
    return calls
