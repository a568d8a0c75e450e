"""No password kho is given ever reaches its output, its error messages or its logs."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from kho.core.settings import load_settings
from kho.synth.scratch import scratch_pg_database

from ..conftest import es_env, need_service, run_kho

SECRET = "Zq8-never-show-me-7Wt"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_hidden(proc, home: Path, secret: str = SECRET) -> None:
    logs = "".join(p.read_text(encoding="utf-8") for p in home.glob("logs/*"))
    for where, text in (("stdout", proc.stdout), ("stderr", proc.stderr), ("logs", logs)):
        assert secret not in text, f"the password appears in {where}:\n{text}"


@pytest.fixture
def pg_url():
    with scratch_pg_database(need_service("PostgreSQL", "KHO_DATABASE_URL")) as url:
        yield url


@pytest.mark.services
def test_status_with_passwords_in_the_urls_shows_none(tmp_path, pg_url):
    env = {"KHO_REDIS_URL": os.environ["KHO_REDIS_URL"], "KHO_DATABASE_URL": pg_url}
    secrets = [make_url(pg_url).password, make_url(env["KHO_REDIS_URL"]).password]
    assert all(secrets), "scripts/services gives Redis and PostgreSQL passwords"
    for args in (["status"], ["status", "--json"]):
        proc = run_kho(*args, home=tmp_path, env=env)
        for secret in secrets:
            assert_hidden(proc, tmp_path, secret)
    assert "kho:***@" in proc.stdout  # the catalog is named, its password masked


@pytest.mark.services
@pytest.mark.parametrize(
    "case", ["redis down", "redis wrong password", "postgres query password", "es wrong password"]
)
def test_a_failing_connection_names_the_service_but_not_the_password(tmp_path, case):
    redis = make_url(need_service("Redis", "KHO_REDIS_URL"))
    pg = make_url(need_service("PostgreSQL", "KHO_DATABASE_URL"))
    env, args = {}, ["status"]
    if case == "redis down":
        env["KHO_REDIS_URL"] = f"redis://:{SECRET}@127.0.0.1:{closed_port()}/0"
    elif case == "redis wrong password":
        env["KHO_REDIS_URL"] = f"redis://:{SECRET}@{redis.host}:{redis.port}/0"
    elif case == "postgres query password":
        env["KHO_DATABASE_URL"] = (
            f"postgresql+psycopg2://{pg.username}@{pg.host}:{pg.port}/kho?password={SECRET}"
        )
    else:
        env.update(es_env())
        env.update(KHO_ELASTICSEARCH_USER="kho", KHO_ELASTICSEARCH_PASSWORD=SECRET)
        env["KHO_ELASTICSEARCH_PASSWORD_FILE"] = ""
        args = ["search", "chi bộ"]
    proc = run_kho(*args, home=tmp_path, env=env, check=None)
    assert_hidden(proc, tmp_path)
    assert "Redis" in proc.stderr or "catalog" in proc.stderr or "Elasticsearch" in proc.stderr
    assert "***" in proc.stderr or case == "es wrong password"


def test_a_secret_file_others_may_read_is_refused(tmp_path):
    secret = tmp_path / "es-password"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    secret.chmod(0o644)
    env = {
        "KHO_ELASTICSEARCH_URL": "https://127.0.0.1:9",
        "KHO_ELASTICSEARCH_USER": "kho",
        "KHO_ELASTICSEARCH_PASSWORD_FILE": str(secret),
    }
    proc = run_kho("status", home=tmp_path, env=env, check=5)
    assert "readable by other users; chmod 600" in proc.stderr
    assert_hidden(proc, tmp_path)
    secret.chmod(0o600)
    settings = load_settings({"KHO_HOME": str(tmp_path), **env})
    assert settings.elasticsearch.password == SECRET  # read from the file, newline dropped


def test_no_secret_in_the_settings_repr(tmp_path):
    config = tmp_path / "kho.toml"
    config.write_text(f'[elasticsearch]\napi_key = "{SECRET}"\n', encoding="utf-8")
    settings = load_settings(
        {
            "KHO_HOME": str(tmp_path),
            "KHO_CONFIG": str(config),
            "KHO_REDIS_URL": f"redis://:{SECRET}x@127.0.0.1:6379/0",
            "KHO_DATABASE_URL": f"postgresql://kho:{SECRET}y@127.0.0.1/kho",
        }
    )
    assert settings.elasticsearch.api_key == SECRET
    assert SECRET not in repr(settings)
