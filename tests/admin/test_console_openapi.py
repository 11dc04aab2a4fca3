"""The staff API against its own OpenAPI document, which is generated from the views' models.

schemathesis generates requests for every operation, valid and invalid, and each answer must be
documented: no 5xx, a documented status code and content type, a body matching its schema; an
invalid request must be refused and a valid one not refused for its shape. Every failure found is
collected and reported at once, not only the first.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis import engine
from schemathesis.engine import events
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.admin.support import bearer, console, make_staff, seed_contact

MAX_EXAMPLES = 15  # per operation and phase; about 20 s on an idle machine
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
            for status in ("400", "401", "403", "500", "503"):
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
            names = {p["name"]: p["schema"] for p in operation["parameters"]}
            if "last_event_id" in body["properties"]:
                # The live events: a cursor instead of pages (each answer is bounded).
                assert {"items", "last_event_id"} <= set(body["required"]), where
                assert "after" in names, where
                continue
            assert {"items", "page", "per_page", "total"} <= set(body["required"]), where
            assert names["per_page"]["maximum"] == 200, where
            assert names["page"]["minimum"] == 1, where
    assert lists >= 7  # conversations, messages, escalations, staff, tokens, failed jobs, audit


def test_schemathesis_finds_nothing(sqlite_app: Any) -> None:
    """Every phase (coverage, fuzzing, stateful) and every check but object-level authorisation
    (staff see every conversation by design), as `st run --checks all` does."""
    for _ in range(3):  # rows to find, so generated ids 1, 2, 3 reach the code behind the 404s
        seed_contact(sqlite_app)
    # The engine speaks HTTP, not WSGI: serve the app on a free port for the test's duration.
    server = make_server("127.0.0.1", 0, sqlite_app, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        schema = schemathesis.openapi.from_url(
            f"http://127.0.0.1:{server.server_port}/admin/api/openapi.json")
        schema.auth(refresh_interval=None)(_admin_token_for(sqlite_app))
        schema.config.update(workers=1)
        schema.config.checks.update(included_check_names=["all"],
                                    excluded_check_names=["object_level_authorization"])
        schema.config.phases.update(phases=["coverage", "fuzzing", "stateful"])
        schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True,
                                         database="none")
        run = _execute(schema)
    finally:
        server.shutdown()
        thread.join()
    operations = len(list(schema.get_all_operations()))
    print(f"\nschemathesis: {operations} operations, {run.calls} calls, {run.checks} checks, "
          f"{len(run.failures)} failures, statuses {dict(sorted(run.statuses.items()))}")
    assert not run.errors, run.errors
    assert not run.failures, "\n".join(sorted(run.failures))
    assert operations >= 19 and run.calls > operations * MAX_EXAMPLES
    # The calls reached the views: the token was refused only where a test asked for that.
    assert run.statuses.get(401, 0) < run.calls * 0.15, run.statuses


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass  # a thousand request lines would bury a failure's report


def _admin_token_for(app: Any) -> type:
    class FreshAdmin:
        """An admin's token; a new one when a generated call demoted, disabled or revoked it."""

        token = ""

        def get(self, case: Any, ctx: Any) -> str:
            who = console(app).token_actor(self.token) if self.token else None
            if who is None or who.role != "admin":
                self.token = make_staff(app, "admin")[2]
            return self.token

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), **bearer(data)}

    return FreshAdmin


@dataclass
class Run:
    """What one schemathesis run did."""

    calls: int = 0
    checks: int = 0
    failures: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def _execute(schema: Any) -> Run:
    run = Run()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            run.errors.append(f"{event.label if hasattr(event, 'label') else ''}: {event.value!r}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        run.calls += len(recorder.cases)
        for interaction in recorder.interactions.values():
            if interaction.response is not None:
                run.statuses[interaction.response.status_code] += 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                run.checks += 1
                if check.status == engine.Status.FAILURE and check.failure_info is not None:
                    failure = check.failure_info.failure
                    case = recorder.cases[case_id].value
                    run.failures.add(f"{recorder.label}: {check.name}: {failure.title}: "
                                     f"{failure.message[:300]}\n  {case.as_curl_command()}")
    return run
