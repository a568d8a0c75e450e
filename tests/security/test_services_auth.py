"""The services scripts/services starts let nobody in without a password, and kho in with
its settings: Redis (requirepass), PostgreSQL (scram-sha-256), Elasticsearch (HTTPS and
a login). Run against the exported KHO_*_URL settings."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
import uuid

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from kho.synth.pages import write_born_digital_pdf

from ..conftest import es_client, es_env, need_service, run_kho

pytestmark = pytest.mark.services


def test_redis_refuses_a_client_without_the_password():
    url = make_url(need_service("Redis", "KHO_REDIS_URL"))
    with socket.create_connection((url.host, url.port), timeout=5) as s:
        s.sendall(b"PING\r\n")
        answer = s.recv(200)
    assert answer.startswith(b"-NOAUTH"), answer


def test_postgres_refuses_a_client_without_the_password(monkeypatch):
    url = make_url(need_service("PostgreSQL", "KHO_DATABASE_URL"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    where = dict(host=url.host, port=url.port, connect_timeout=5, passfile="/dev/null")
    for user in (url.username, "postgres"):
        with pytest.raises(psycopg2.OperationalError, match="no password supplied"):
            psycopg2.connect(user=user, dbname="postgres", **where)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(user=url.username, password="guess", dbname="kho", **where)


def _get(url: str, context=None) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_elasticsearch_wants_tls_and_a_login():
    env = es_env()
    url = env["KHO_ELASTICSEARCH_URL"]
    assert url.startswith("https://"), "scripts/services serves Elasticsearch over HTTPS"
    tls = ssl.create_default_context(cafile=env["KHO_ELASTICSEARCH_CA"])
    assert _get(f"{url}/_cluster/health", tls) == 401
    assert _get(f"{url}/kho-*/_search", tls) == 401
    with pytest.raises(urllib.error.URLError) as refused:  # the node's CA, not the system's
        _get(f"{url}/", ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # no plain HTTP
        _get("http://" + url.removeprefix("https://") + "/")


def test_kho_ingests_and_searches_with_its_login(tmp_path):
    env = {**es_env(), "KHO_INDEX_NAME": f"kho-test-{uuid.uuid4().hex[:10]}"}
    assert env.get("KHO_ELASTICSEARCH_USER") and env.get("KHO_ELASTICSEARCH_PASSWORD_FILE")
    scans = tmp_path / "scans"
    scans.mkdir()
    write_born_digital_pdf(scans / "a.pdf", ["Nghị quyết của chi bộ về công tác dân vận."])
    home = tmp_path / "home"
    try:
        run_kho("ingest", str(scans), "--batch", "secured", "-q", home=home, env=env)
        hits = json.loads(run_kho("search", "dân vận", "--json", home=home, env=env).stdout)
        assert [h["filename"] for h in hits] == ["a.pdf"]
        es = es_client(env["KHO_ELASTICSEARCH_URL"])
        assert es.security.authenticate()["username"] == env["KHO_ELASTICSEARCH_USER"]
    finally:
        es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(
            index=f"{env['KHO_INDEX_NAME']}-v*", allow_no_indices=True
        )


@pytest.mark.parametrize("case", ["no login", "unknown api key", "no ca"])
def test_kho_says_what_to_set_when_elasticsearch_refuses_it(tmp_path, case):
    env = {**es_env(), "KHO_INDEX_NAME": f"kho-test-{uuid.uuid4().hex[:10]}"}
    if case != "no ca":  # an empty variable is an unset setting
        env.update(KHO_ELASTICSEARCH_USER="", KHO_ELASTICSEARCH_PASSWORD_FILE="")
    if case == "unknown api key":
        env["KHO_ELASTICSEARCH_API_KEY"] = "bm8taWQ6bm8ta2V5"  # base64 of "no-id:no-key"
    if case == "no ca":
        env["KHO_ELASTICSEARCH_CA"] = ""
    proc = run_kho("search", "chi bộ", home=tmp_path, env=env, check=5)
    want = "certificate could not be verified" if case == "no ca" else "refused kho's login"
    assert want in proc.stderr
    assert "bm8taWQ6bm8ta2V5" not in proc.stderr
