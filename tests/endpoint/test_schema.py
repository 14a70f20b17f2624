"""Schema fuzzing: schemathesis against /openapi.json over real HTTP (uvicorn on 127.0.0.1),
with a client session (cookie) and the admin credential (bearer) so every route is reached:
no 500, no status code, content type or body that the document does not declare."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.endpoint.conftest import ADMIN_TOKEN, make_venue

EXAMPLES = int(os.environ.get("CCP_SCHEMA_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "ccp.sqlite3"
    v = make_venue(f"sqlite:///{path}", api_rate_per_client=1e6, api_rate_burst_client=10**6,
                   api_rate_per_address=1e6, api_rate_burst_address=10**6)
    t = v.trader(1)
    token = t.login().json()["payload"]["authToken"]
    # something to find: an open order
    t.post("clientapi/newOrder", t.order_body(1, [(1, "BUY", "1.00")], "2000"))
    yield v, token
    v.served.stop()
    v.store.dispose()


def test_no_server_error_and_responses_match_the_schema(fuzzed):
    v, token = fuzzed
    schema = schemathesis.openapi.from_url(f"{v.url}/openapi.json")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Cookie": f"ccpsession={token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1

        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(base_url=v.url, headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as e:  # collect every operation's failure, report them together
            failures.append(f"{op.method.upper()} {op.path}: {str(e)[:600]}")
    assert operations >= 50
    assert not failures, "\n\n".join(failures)
