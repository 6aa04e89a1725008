"""Property-based tests of the API against its own OpenAPI document (schemathesis, in-process ASGI):
no server errors on any generated input, and every response matches the documented status codes,
content types and schemas. Examples per operation are bounded to keep this well under a minute."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from civicledger.adapters.clock import WallClock
from civicledger.adapters.memory import MemoryStore
from civicledger.api.app import create_app
from civicledger.demo import run_demo

# Built at import, as schemathesis needs the app to collect the operations: the demo economy in
# memory takes about a second. The API's behaviour, not the adapter's, is under test here.
_STORE = MemoryStore()
_ECONOMY, _ = run_demo(_STORE)
APP = create_app(_STORE, WallClock(), _ECONOMY.key("journal"), pages=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
CHECKS: list[Any] = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_matches_its_openapi_document(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


def test_the_document_lists_the_generic_command_endpoint_and_the_reads() -> None:
    paths = APP.openapi()["paths"]
    assert "/api/commands" in paths and "post" in paths["/api/commands"]
    for path in (
        "/api/journal/{seq}",
        "/api/tree-heads/consistency",
        "/api/circles/route",
        "/api/gears/coefficients",
        "/api/credits/grades",
        "/api/creditism/prices/{asset}",
    ):
        assert path in paths, path


@pytest.fixture(autouse=True, scope="module")
def _cleanup() -> Any:
    yield
    _STORE.close()
