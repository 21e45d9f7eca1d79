"""Schemathesis over the whole OpenAPI document: generated requests never get a 5xx nor an undeclared answer.

Each operation gets up to ``EXAMPLES`` valid and as many invalid generated requests (derandomised, so a failure
reproduces); over the operations (15 today) that is over 1,000 cases per run.
"""

from __future__ import annotations

from itertools import product

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans

from service.api.main import create_app

EXAMPLES = 75
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]


@pytest.fixture(scope="module")
def schema(tmp_path_factory, model_file):
    from service.config import Settings

    # Every scope for anonymous callers (development only), so that admin operations are fuzzed too.
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), model_path=model_file, models_dir=model_file.parent,
                         anonymous_scopes=["read", "submit", "admin"], rate_limit_per_minute=100_000)
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(settings_))
    shutdown_lifespans()


def test_generated_requests_get_declared_answers(schema):
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    cases = 0
    for operation, mode in product(operations, GenerationMode):

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def run(case):
            nonlocal cases
            cases += 1
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # an operation without parameters or body has no invalid request
            assert mode == GenerationMode.NEGATIVE, operation.label
    assert cases >= 1000, cases
