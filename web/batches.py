"""Staff's batch pages: upload a batch from the browser, follow it, retry or give up its
failures.

An upload is streamed to disk under the storage root (`uploads/`, never whole in memory,
`[web] upload_max_mb` per request and `upload_file_max_mb` per file), each file registered
exactly as `kho ingest` registers it (ingest.register: the same sniffing and per-file
refusals), then the batch is run by a `kho resume --batch NAME` process: the executor the
CLI uses (the local pool, or the queues), in its own process so the request returns at once
and no process pool is forked out of the threaded web server.

Who may upload: operators and principals with `uploader = true`, for a unit and level within
their own units and clearance. A batch is its uploader's (`Batch.operator`): they and the
operators see it; for anyone else it does not exist (404).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for

from kho.core.reasons import reason_vi
from kho.core.types import unit_covers, unit_scopes
from kho.index.guard import audit

from .state import ctx, door, web

log = logging.getLogger("kho.web")
UPLOAD_PATH = "/upload"
UPLOAD_PATHS = (UPLOAD_PATH, "/api/v1/batches")  # the page's form, the JSON API's (web/api.py)
FORM_LIMIT = 64 * 1024  # every other request's body
MANIFESTS = ("kho-manifest.csv", "kho-manifest.json")
MAX_NAME_PARTS = 12
BATCH_FAILURES = 100
MAX_ID = 2**31 - 1  # the largest id an Integer column holds (PostgreSQL's int4)


def register(app) -> None:
    app.add_url_rule(UPLOAD_PATH, "upload", upload, methods=["GET", "POST"])
    app.add_url_rule("/batches", "batches", batches)
    app.add_url_rule("/batches/<int:batch_id>", "batch", batch_page)
    app.add_url_rule("/api/batches/<int:batch_id>", "api_batch", api_batch)
    app.add_url_rule("/batches/<int:batch_id>/retry", "batch_retry", batch_retry, methods=["POST"])
    app.add_url_rule("/batches/<int:batch_id>/purge", "batch_purge", batch_purge, methods=["POST"])


def body_limit(settings, path: str) -> int:
    """The most bytes a request's body to `path` may carry (the one place it is decided: the
    app and the server's channel both ask here)."""
    if path in UPLOAD_PATHS:
        return int(settings.web.upload_max_mb * 1024 * 1024)
    return FORM_LIMIT


def uploads_dir(settings) -> Path:
    return Path(settings.home) / "uploads"


class LimitedFile:
    """A file part of an upload, written to disk under the storage root as it arrives; past
    `limit` bytes the request is refused (413)."""

    def __init__(self, folder: Path, limit: int):
        import tempfile

        from werkzeug.exceptions import RequestEntityTooLarge

        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.f = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - the request closes it
        self.limit, self.size, self.too_large = limit, 0, RequestEntityTooLarge

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise self.too_large()
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


def file_stream(settings):
    """`Request._get_file_stream` for the app: upload parts to disk, bounded per file."""
    limit = int(settings.web.upload_file_max_mb * 1024 * 1024)
    return lambda *_a, **_k: LimitedFile(uploads_dir(settings) / ".parts", limit)


# who --------------------------------------------------------------------------------------
def may_upload() -> bool:
    return bool(g.get("operator")) or g.principal.name in web().settings.uploaders


def within(principal, unit: str, level: int) -> bool:
    """Whether `unit` and `level` are within the principal's own units and clearance."""
    scopes = unit_scopes(principal)
    return level <= principal.clearance and any(unit_covers(s, unit) for s in scopes)


def owned_batch(batch_id: int):
    """The batch if the reader may see it (an operator, or its uploader); else 404."""
    from kho.core.models import Batch

    b = None
    if 0 < batch_id <= MAX_ID:  # past it, the database would refuse the query itself
        with ctx().catalog.session() as s:
            b = s.get(Batch, batch_id)
            if b is not None:
                s.expunge(b)
    if b is None or not (g.operator or b.operator == g.principal.name):
        audit(ctx().catalog, g.principal, "batch-denied", door(), batch_id=batch_id)
        abort(404)
    return b


# upload -----------------------------------------------------------------------------------
def safe_name(raw: str) -> str | None:
    """A relative path of the upload (a folder's files come as "folder/sub/x.png"), or None
    when it is no plain relative path (absolute, "..", NUL or another control character)."""
    if not raw or len(raw) > 1000:
        return None
    parts = raw.replace("\\", "/").split("/")
    if len(parts) > MAX_NAME_PARTS:
        return None
    for part in parts:
        if part in ("", ".", "..") or len(part.encode()) > 255:
            return None
        if any(unicodedata.category(ch)[0] == "C" for ch in part):
            return None
    return unicodedata.normalize("NFC", "/".join(parts))


def upload():
    if not may_upload():
        abort(403)
    if request.method == "GET":
        return render_template("upload.html", form={}, errors=[], refused=[])
    form, up = take_upload()
    if up.errors:
        return render_template("upload.html", form=form, errors=up.errors, refused=[]), 400
    flash(f"Đã nhận lô {up.name}: {up.counts['new']} tệp mới, {up.counts['duplicate']} trùng, "
          f"{up.refused_count} không nhận.", "ok")  # fmt: skip
    for line in up.lines:
        flash(line, "bad")
    return redirect(url_for("batch", batch_id=up.batch_id))


@dataclass(frozen=True)
class Upload:
    """What became of an upload: the form's errors (nothing stored), or the batch made,
    its counts and one line for each file not taken."""

    errors: list[str] = field(default_factory=list)
    batch_id: int = 0
    name: str = ""
    counts: dict = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    @property
    def refused_count(self) -> int:
        c = self.counts
        return c["failed"] + c["skipped"] + c["refused"]


def take_upload() -> tuple[dict, Upload]:
    """The request's upload (the page's form or the JSON API's): its fields checked, its
    files staged, registered as `kho ingest` registers them and the batch started. The
    caller checked `may_upload`."""
    form = {k: request.form.get(k, "").strip()[:200] for k in ("name", "unit", "level", "fonds")}
    form["groups"] = request.form.get("groups", "").strip()[:500]
    form["dossier"] = request.form.get("dossier", "").strip()[:200]
    form["folder_dossiers"] = request.form.get("folder_dossiers") == "1"
    opts, errors = batch_options(form)
    files = [f for f in request.files.getlist("files") if f.filename]
    if not files:
        errors.append("Chưa chọn tệp nào: chọn tệp hoặc một thư mục rồi bấm Tải lên.")
    if errors:
        return form, Upload(errors=errors)
    staged, refused = stage(opts.name, files)
    return form, start_upload(opts, staged, refused)


def batch_options(form: dict):
    """BatchOptions from the upload form, or the Vietnamese lines saying what to fix."""
    from kho.core.types import UnitError, normalize_unit
    from kho.ingest.register import BatchOptions

    s, errors = web().settings, []
    name = form["name"]
    if not name or any(unicodedata.category(ch)[0] == "C" for ch in name):
        errors.append("Cần tên lô (chữ, số, dấu gạch), ví dụ hs-2024-01.")
    elif ctx().catalog.batch_id(name) is not None:
        errors.append(f"Đã có lô tên {name}: chọn tên khác.")
    try:
        unit = normalize_unit(form["unit"])
    except UnitError:
        unit, _ = "", errors.append("Đơn vị không hợp lệ: viết như qk7/f9.")
    level = int(form["level"]) if form["level"] in ("0", "1", "2", "3") else None
    if level is None:
        errors.append("Độ mật phải là 0, 1, 2 hoặc 3.")
    elif not errors and not within(g.principal, unit, level):
        errors.append(
            "Đơn vị hoặc độ mật vượt quá quyền của bạn: chọn đơn vị trong phạm vi của bạn "
            "và độ mật không cao hơn mức bạn được xem."
        )
    groups = tuple(x.strip() for x in form["groups"].split(",") if x.strip())
    if any("|" in x for x in groups):
        errors.append("Tên nhóm không được chứa dấu |.")
    opts = BatchOptions(
        name=name,
        unit=unit,
        level=level or 0,
        lang=s.ocr.lang,
        groups=groups,
        operator=g.principal.name,
        fonds=form["fonds"],
        dossier=form["dossier"],
        folder_dossiers=form["folder_dossiers"] and not form["dossier"],
    )
    return opts, errors


def stage(name: str, files) -> tuple[Path, list[str]]:
    """The uploaded files under uploads/<batch>-<random>/ by their relative names; and one
    line for each refused."""
    folder = uploads_dir(web().settings) / f"{secrets.token_hex(8)}"
    folder.mkdir(parents=True, mode=0o700)
    refused = []
    for f in files:
        rel = safe_name(f.filename)
        shown = (f.filename or "").replace("\x00", "\\0")[:200]
        if rel is None:
            refused.append(f"{shown}: tên tệp không hợp lệ (đường dẫn, ký tự điều khiển): đổi tên.")
            continue
        if Path(rel).name.lower() in MANIFESTS:
            refused.append(f"{rel}: bảng kê quyền không nhận qua trang này: dùng kho ingest.")
            continue
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if target.exists():
            refused.append(f"{rel}: tên trùng trong lần tải lên này: đổi tên.")
            continue
        f.save(target)
    return folder, refused


def start_upload(opts, staged: Path, refused: list[str]) -> Upload:
    from kho.ingest.register import register_batch
    from kho.workers.executor import executor_for

    c = ctx()
    try:
        executor_for(c.settings, c).check_ready(opts.lang)  # as kho ingest, before any work
    except Exception:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    lines: list[str] = list(refused)

    def on_file(reg):
        if reg.status in ("failed", "skipped"):
            rel = os.path.relpath(reg.path, staged) if reg.path.startswith(str(staged)) else ""
            lines.append(f"{rel or Path(reg.path).name}: {reason_vi(reg.reason)}")

    try:
        reg = register_batch(c.catalog, c.storage, [staged], opts, c.settings.limits, on_file)
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # the originals are under the storage root
    counts = {k: reg.count(k) for k in ("new", "duplicate", "failed", "skipped")}
    audit(c.catalog, g.principal, "upload", door(), batch=opts.name, refused=len(refused),
          unit=opts.unit, level=opts.level, **counts)  # fmt: skip
    start_batch(opts.name)
    counts["refused"] = len(refused)
    return Upload(batch_id=reg.batch_id, name=opts.name, counts=counts, lines=lines)


def start_batch(name: str) -> None:
    """Run what the catalog says is left of the batch in a `kho resume` process."""
    from kho.core.settings import settings_env

    s = web().settings
    env = settings_env(s, os.environ)  # the server's own catalog, index and queues
    logs = uploads_dir(s) / "logs"
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = open(logs / f"resume-{secrets.token_hex(4)}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "kho", "resume", "--batch", name],
        env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
    )  # fmt: skip
    out.close()
    threading.Thread(target=proc.wait, daemon=True).start()  # reaped when it ends


# batch pages ------------------------------------------------------------------------------
def batch_json(b) -> dict:
    from kho.workers.status import batch_state

    c = ctx()
    st = batch_state(c, b.id)
    rows, total = c.catalog.list_failures(b.id, limit=BATCH_FAILURES, principal=g.principal)
    failures = [
        {
            "what": f.name if f.kind == "file" or not f.doc_id else f"{f.name} trang {f.page}",
            "reason": reason_vi(f.reason),
            "final": f.final,
            "doc": f.doc_id if f.final and f.kind != "file" else "",  # one to give up
        }
        for f in rows
    ]
    staged = (b.sources or [""])[0] + "/"
    for f in failures:  # a file by its name in the upload, not where it was staged
        f["what"] = f["what"].removeprefix(staged) if len(staged) > 1 else f["what"]
    return {
        "id": b.id, "name": b.name, "operator": b.operator, "finished": st.finished,
        "pages_total": st.pages_total, "pages_done": st.pages_done,
        "pages_failed": st.pages_failed, "pages_retrying": st.pages_retrying,
        "docs_total": st.docs_total, "docs_indexed": st.docs_indexed,
        "files_failed": st.files_failed, "pages_per_min": st.pages_per_min,
        "failures": failures, "failures_total": total, "line": progress_line(st),
    }  # fmt: skip


def progress_line(st) -> str:
    """The batch's progress in one line (the page and its live region both show it)."""
    state = "Đã xong" if st.finished else "Đang xử lý"
    return (
        f"{state}: {st.pages_done}/{st.pages_total} trang, {st.docs_indexed}/{st.docs_total} "
        f"văn bản, {st.pages_failed} trang lỗi, {st.files_failed} tệp lỗi · "
        f"{st.pages_per_min:.1f} trang/phút"
    )


def visible_batches(limit: int = 200) -> list:
    """The newest of the last `limit` batches the reader may see: an operator every one,
    anyone else their own."""
    return [b for b in ctx().catalog.batches(limit) if g.operator or b.operator == g.principal.name]


def batches():
    c = ctx()
    rows = visible_batches()
    states = [batch_json(b) for b in rows[:50]]
    body = render_template("batches.html", batches=states, opened={b.id: b for b in rows})
    audit(c.catalog, g.principal, "batches", door(), shown=[b.name for b in rows[:50]])
    return body


def batch_page(batch_id):
    b = owned_batch(batch_id)
    body = render_template("batch.html", b=b, st=batch_json(b), may_act=True)
    audit(ctx().catalog, g.principal, "batch", door(), batch=b.name)
    return body


def api_batch(batch_id):
    b = owned_batch(batch_id)
    body = jsonify(batch_json(b))
    audit(ctx().catalog, g.principal, "batch", door(), batch=b.name, format="json")
    return body


def batch_retry(batch_id):
    """`kho failed retry --batch`: the catalog's reset, then the batch run again."""
    b = owned_batch(batch_id)
    reset = ctx().catalog.reset_failures(b.id)
    audit(ctx().catalog, g.principal, "retry", door(), batch=b.name,
          pages=len(reset.pages), docs=len(reset.documents))  # fmt: skip
    start_batch(b.name)
    flash(f"Đang thử lại {len(reset.pages)} trang, {len(reset.documents)} văn bản.", "ok")
    return redirect(url_for("batch", batch_id=b.id))


def batch_purge(batch_id):
    """`kho failed purge --batch`: failures for good stop counting; the audit log keeps them."""
    b = owned_batch(batch_id)
    doc_id = request.form.get("doc", "")[:64]
    if doc_id and doc_id not in ctx().catalog.visible_ids({doc_id}, g.principal):
        abort(404)  # a document of the batch the reader may not see: as a missing one
    count = ctx().catalog.purge_failures(b.id, doc_id=doc_id)
    audit(ctx().catalog, g.principal, "purge", door(), batch=b.name, purged=count,
          doc_id=doc_id or None)  # fmt: skip
    flash(f"Đã bỏ {count} lỗi của lô {b.name} (ghi trong nhật ký).", "ok")
    return redirect(url_for("batch", batch_id=b.id))
