"""Fuzz every operation of the OpenAPI document with schemathesis: no response may be a 5xx.

Each operation gets FUZZ_EXAMPLES valid (positive) and FUZZ_EXAMPLES invalid
(negative) requests, sent with an admin session so that the checks behind
authentication run too. Hypothesis runs derandomized, so a run is repeatable.
"""

from __future__ import annotations

from collections.abc import Iterator

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode

from tests.support import oci
from tests.support.service import RunningService, running_service

FUZZ_EXAMPLES = 20
# Without the session header, logout would end the session every other operation uses.
SESSIONLESS_PATHS = frozenset({"/auth/logout"})


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A service with one image and lockout limits high enough for hundreds of bad logins."""
    root = tmp_path_factory.mktemp("fuzz")
    with running_service(
        root / "service",
        extra_args=[
            "--login-failure-delay",
            "0",
            "--login-max-failures",
            "100000",
            "--login-max-failures-per-address",
            "100000",
        ],
    ) as service:
        layout = root / "layout"
        oci.write_image(layout, "v1", seed="fuzz")
        service.push(layout, "v1", "team/app:v1")
        yield service


def _fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    service: RunningService,
    session_id: str,
    failures: list[str],
) -> int:
    """Send the generated requests of one operation; return how many went out."""
    headers = {} if operation.path in SESSIONLESS_PATHS else {"sessionid": session_id}
    http = requests.Session()
    sent = 0

    @hypothesis.settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def send(case: schemathesis.Case) -> None:
        nonlocal sent
        response = case.call(base_url=service.url, session=http, headers=headers, timeout=60)
        sent += 1
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} ({mode.value}) -> "
                f"{response.status_code}: {response.text[:200]}"
            )

    try:
        send()
    except hypothesis.errors.Unsatisfiable:
        # An operation without parameters or body has no invalid form to send.
        if mode is GenerationMode.POSITIVE:
            raise
    return sent


def test_fuzz_no_server_error(fuzz_service: RunningService) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_service.url}/openapi.json")
    session_id = fuzz_service.api().headers["sessionid"]
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    sent: dict[str, int] = {}

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            count = _fuzz_operation(operation, mode, fuzz_service, session_id, failures)
            sent[operation.label] = sent.get(operation.label, 0) + count

    assert len(operations) >= 14
    assert sent["POST /nerve/registry/images"] == 2 * FUZZ_EXAMPLES
    assert sent["GET /auth/token"] == 2 * FUZZ_EXAMPLES
    assert failures == []
    assert "Traceback" not in fuzz_service.log_text()
