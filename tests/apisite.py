"""An archive for the JSON API's tests, ingested by the real CLI, served by a real
`kho web serve`, with API tokens made by `kho web token create`.

Principals: `boss` (operator, every unit), `officer` (clearance 1, qk7, uploader),
`plain` (clearance 1, qk7, no upload), `outsider` (clearance 3, qk9). Documents: a plan of
qk7 and one of qk9 (level 0), a secret of qk7 (level 2), and a 25-page report of qk7/f9
whose every page says "huấn luyện" (more than one page of hits by page).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import run_kho, serve_web

PASSWORDS = {k: f"{k}-pw-1" for k in ("boss", "officer", "plain", "outsider")}
PRINCIPALS = {  # name: (clearance, units, extra lines)
    "boss": (3, ["*"], "operator = true\n"),
    "officer": (1, ["qk7"], "uploader = true\n"),
    "plain": (1, ["qk7"], ""),
    "outsider": (3, ["qk9"], ""),
}
DOCS = {  # file: (pages, level, unit)
    "qk7-plan.pdf": (["Kế hoạch công tác dân vận năm 2024 của Quân khu 7."], 0, "qk7"),
    "qk9-plan.pdf": (["Kế hoạch công tác dân vận năm 2024 của Quân khu 9."], 0, "qk9"),
    "qk7-secret.pdf": (["MẬT\nCông tác dân vận và bảo vệ nội bộ Quân khu 7."], 2, "qk7"),
    "report.pdf": ([f"Báo cáo huấn luyện, trang {n}." for n in range(1, 26)], 0, "qk7/f9"),
}


def config_text() -> str:
    from kho.web.auth import hash_password

    out = ['[web]\nauth = "password"\nupload_max_mb = 4\nupload_file_max_mb = 1\n']
    for name, (clearance, units, extra) in PRINCIPALS.items():
        out.append(f"[principals.{name}]\nclearance = {clearance}\nunits = {json.dumps(units)}\n"
                   f'{extra}password = "{hash_password(PASSWORDS[name])}"\n')  # fmt: skip
    return "\n".join(out)


def make_token(site: dict, user: str, *args: str) -> str:
    """A new token for `user`, made by the operator through the CLI (stdout: the token)."""
    out = run_kho("web", "token", "create", "--user", user, "--as", "boss", *args,
                  home=site["home"], env=site["env"])  # fmt: skip
    return out.stdout.strip()


def build_site(root: Path) -> dict:
    """The archive: {"home", "env", "ids" (file -> doc id), "config"}; not served yet."""
    from kho.synth.pages import write_born_digital_pdf

    config = root / "kho.toml"
    config.write_text(config_text(), encoding="utf-8")
    scans = root / "scans"
    scans.mkdir()
    rows = ["file,level,unit"]
    for name, (texts, level, unit) in DOCS.items():
        write_born_digital_pdf(scans / name, texts)
        rows.append(f"{name},{level},{unit}")
    (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    home, env = root / "home", {"KHO_CONFIG": str(config)}
    run_kho("ingest", str(scans), "--batch", "api-2024", "-q", home=home, env=env)
    found = run_kho("search", "", "--json", "--as", "boss", home=home, env=env).stdout
    ids = {h["filename"]: h["doc_id"] for h in json.loads(found)}
    assert set(ids) == set(DOCS), ids
    return {"home": home, "env": env, "ids": ids, "config": config, "root": root}


def serve(site: dict) -> dict:
    """`site` with a running server: "base" and "proc" added."""
    proc, base = serve_web(site["home"], site["env"])
    return {**site, "proc": proc, "base": base}


def stop(site: dict) -> str:
    """Stop the server; what it printed."""
    site["proc"].terminate()
    out, _ = site["proc"].communicate(timeout=30)
    return out.decode(errors="replace")


def login(base: str, name: str):
    """A requests session logged in as `name` through the login form."""
    import requests

    http = requests.Session()
    page = http.get(f"{base}/login", timeout=30).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"name": name, "password": PASSWORDS[name], "csrf": csrf, "next": "/"}
    resp = http.post(f"{base}/login", data=form, allow_redirects=False, timeout=30)
    assert resp.status_code == 302, resp.text
    page = http.get(f"{base}/", timeout=30).text  # a login gives the session a new form token
    http.csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return http


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
