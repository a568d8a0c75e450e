"""The JSON API fuzzed from its own OpenAPI description (schemathesis) on a real
`kho web serve`, with a token of the outsider (another unit, qk9): no reply is a server
error, every reply keeps to the description (status, content type, body schema), and none
names a document of qk7, whatever the parameters (the qk7 ids themselves are tried on
every document route, and real words on search)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kho.web.openapi import description

from .apisite import bearer, build_site, make_token, serve, stop

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HIDDEN = ("qk7-plan.pdf", "qk7-secret.pdf", "report.pdf")  # the outsider sees qk9 only
WORDS = ("dân vận", "huấn luyện Quân khu 7")
MAX_EXAMPLES = 8  # per operation and mode: the whole module well under a minute


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = serve(build_site(tmp_path_factory.mktemp("apifuzz")))
    site["outsider"] = make_token(site, "outsider")
    site["hidden"] = [site["ids"][name] for name in HIDDEN]
    yield site
    stop(site)


@pytest.fixture(scope="module")
def api_schema(site):
    url = site["base"] + "/api/v1/openapi.json"
    return schemathesis.openapi.from_url(url, headers=bearer(site["outsider"]))


def shows_hidden(site, text: str) -> list[str]:
    """The qk7 document ids (or their 12-character prefixes) a reply names."""
    return [i for i in site["hidden"] if i[:12] in text]


def check_case(site, case) -> None:
    """Send the case, then the same case with what the outsider must not reach (the qk7
    ids on a document route, real words on search); check every reply."""
    headers = bearer(site["outsider"])
    resp = case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)
    assert not shows_hidden(site, resp.text)
    tries = []
    if "doc_id" in (case.path_parameters or {}):
        tries = [("path_parameters", "doc_id", doc) for doc in site["hidden"]]
    elif case.path == "/api/v1/search":
        tries = [("query", "q", words) for words in WORDS]
    for where, name, value in tries:
        setattr(case, where, {**(getattr(case, where) or {}), name: value})
        resp = case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)
        assert not shows_hidden(site, resp.text), (case.path, value)
        if where == "path_parameters":  # 401: a negative case broke its own token
            assert resp.status_code in (401, 404), (case.path, value)


OPERATIONS = [
    (path, method.upper()) for path, ops in description()["paths"].items() for method in ops
]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_the_api_keeps_to_its_description(site, api_schema, path, method, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        check_case(site, case)

    fuzz()
