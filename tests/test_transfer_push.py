"""`kho transfer push URL PATH`: the real command line against a real `kho web serve`."""

from __future__ import annotations

from .conftest import run_kho
from .security.transferpush import catalog_of, make_receiver, make_sender, register
from .security.webdoor import Server, free_port

SENDER_CONFIG = """
default_principal = "op"

[principals.op]
operator = true

[principals.clerk]
clearance = 0
"""


def sender_home(root, name: str):
    home, node = make_sender(root, name)
    config = root / f"{name}.toml"
    config.write_text(SENDER_CONFIG, encoding="utf-8")
    return home, {"KHO_CONFIG": str(config)}, node


def package(root):
    path = root / "f9-000001.tar"
    path.write_bytes(b"a package that never gets as far as the import\n" * 2000)
    return path


def test_push_from_an_unknown_node_prints_the_refusal(tmp_path):
    home, env = make_receiver(tmp_path)
    s_home, s_env, _ = sender_home(tmp_path, "f9")
    pkg = package(tmp_path)
    with Server(home, env) as server:
        url = f"http://127.0.0.1:{server.port}"
        proc = run_kho("transfer", "push", url, str(pkg), "--as", "op", home=s_home, env=s_env,
                       check=8)  # fmt: skip
    assert "unknown or revoked node key" in proc.stderr
    assert "Khóa nút không được đăng ký" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "f9-000001.tar.receipt.json").exists()
    rows = [r for r in catalog_of(home, env).audit_rows() if r.action == "transfer-refused"]
    assert rows and rows[-1].detail["size"] == pkg.stat().st_size


def test_push_signs_with_this_nodes_key(tmp_path):
    """Registered, the same push passes the signature and reaches the body check: the
    body is streamed and hashed whole (here it is refused only by the import, which
    says the file is no package, or answers once it is there)."""
    home, env = make_receiver(tmp_path)
    s_home, s_env, node = sender_home(tmp_path, "f9")
    register(catalog_of(home, env), node, ["qk7/f9"])
    pkg = package(tmp_path)
    with Server(home, env) as server:
        url = f"http://127.0.0.1:{server.port}"
        proc = run_kho("transfer", "push", url, str(pkg), home=s_home, env=s_env, check=None)
    assert "unknown or revoked" not in proc.stderr and "signature" not in proc.stderr
    refused = [r for r in catalog_of(home, env).audit_rows() if r.action == "transfer-refused"]
    assert all(r.detail.get("status") not in (401, 403, 400) for r in refused)
    assert not list((home / "transfers" / "incoming").iterdir())


def test_push_needs_an_operator(tmp_path):
    s_home, s_env, _ = sender_home(tmp_path, "f9")
    pkg = package(tmp_path)
    proc = run_kho("transfer", "push", "http://127.0.0.1:1", str(pkg), "--as", "clerk",
                   home=s_home, env=s_env, check=2)  # fmt: skip
    assert "not an operator" in proc.stderr


def test_unreachable_server_is_one_line_exit_6(tmp_path):
    s_home, s_env, _ = sender_home(tmp_path, "f9")
    pkg = package(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    proc = run_kho("transfer", "push", url, str(pkg), home=s_home, env=s_env, check=6)
    assert "did not answer" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_refusal_line_is_the_servers(tmp_path):
    """A refusal's line is the server's JSON error, whatever the status."""
    home, env = make_receiver(tmp_path, max_bytes=1000)
    s_home, s_env, node = sender_home(tmp_path, "f9")
    register(catalog_of(home, env), node, ["qk7/f9"])
    pkg = package(tmp_path)  # over 1000 bytes
    with Server(home, env) as server:
        url = f"http://127.0.0.1:{server.port}/"
        proc = run_kho("transfer", "push", url, str(pkg), home=s_home, env=s_env, check=8)
    assert "package too large" in proc.stderr
    assert "Gói quá lớn" in proc.stderr
