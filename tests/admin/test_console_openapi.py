"""The staff API against its own OpenAPI document, which is generated from the views' models.

schemathesis generates requests for every operation, valid and invalid, and each answer must be
documented: no 5xx, a documented status code and content type, a body matching its schema; an
invalid request must be refused and a valid one not refused for its shape. Every failure found is
collected and reported at once, not only the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.admin.support import bearer, make_staff, seed_contact

MAX_EXAMPLES = 15
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_schema_conformance]
CHECKS = {
    GenerationMode.POSITIVE: [*CONFORMANCE, positive_data_acceptance],
    GenerationMode.NEGATIVE: [*CONFORMANCE, negative_data_rejection],
}
ID_PATTERN = "id"


def test_the_document_is_served_and_lists_every_api_route(sqlite_app: Any) -> None:
    document = sqlite_app.test_client().get("/admin/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {
        (path.replace("{", "<").replace("}", ">"), method.upper())
        for path, item in document["paths"].items()
        for method in item if method != "parameters"
    }
    served = set()
    for rule in sqlite_app.url_map.iter_rules():
        if rule.endpoint.startswith("admin_api.") and rule.endpoint != "admin_api.openapi":
            path = rule.rule
            for name in rule.arguments:
                path = path.replace(f"<{ID_PATTERN}:{name}>", f"<{name}>")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
    # Every operation documents its errors in the one error shape, 401 and 403 included.
    for item in document["paths"].values():
        for operation in item.values():
            for status in ("400", "401", "403", "503"):
                content = operation["responses"][status]["content"]
                assert content["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, operation["operationId"]


def test_every_list_is_paginated(sqlite_app: Any) -> None:
    document = sqlite_app.test_client().get("/admin/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    lists = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation["responses"].get("200", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            body = schemas.get(ref.rsplit("/", 1)[-1], {})
            if body.get("properties", {}).get("items", {}).get("type") != "array":
                continue
            lists += 1
            where = f"{method.upper()} {path}"
            assert {"items", "page", "per_page", "total"} <= set(body["required"]), where
            names = {p["name"]: p["schema"] for p in operation["parameters"]}
            assert names["per_page"]["maximum"] == 200, where
            assert names["page"]["minimum"] == 1, where
    assert lists >= 7  # conversations, messages, escalations, staff, tokens, failed jobs, audit


@dataclass
class Run:
    """What one schemathesis run did: calls made and failures found, by operation."""

    calls: int = 0
    failures: set[str] = field(default_factory=set)


def test_the_api_answers_as_documented(sqlite_app: Any) -> None:
    # A few rows to find, so generated ids 1, 2, 3 reach the code behind the 404s.
    for _ in range(3):
        seed_contact(sqlite_app)
    schema = schemathesis.openapi.from_wsgi("/admin/api/openapi.json", sqlite_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 19
    run = Run()
    for operation in operations:
        # A fresh admin per operation: a generated PATCH may demote or switch off the caller.
        _, _, token = make_staff(sqlite_app, "admin")
        for mode, checks in CHECKS.items():
            _fuzz(operation, mode, checks, token, run)
    report = "\n".join(sorted(run.failures))
    print(f"\nschemathesis: {len(operations)} operations, {run.calls} calls, "
          f"{len(run.failures)} failures")
    assert not run.failures, report
    assert run.calls > len(operations) * MAX_EXAMPLES


def _fuzz(operation: Any, mode: GenerationMode, checks: list[Any], token: str, run: Run) -> None:
    """Run generated cases of one operation, collecting every distinct failure."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        run.calls += 1
        try:
            case.call_and_validate(headers=bearer(token), checks=checks)
        except FailureGroup as group:
            for failure in group.exceptions:
                run.failures.add(f"{operation.label} [{mode.value}] {failure.title}: "
                                 f"{failure.message[:300]}\n  {case.as_curl_command()}")

    call()
