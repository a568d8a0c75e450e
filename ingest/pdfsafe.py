"""PDFs as kho serves them: without active content, and the files they carry taken out.

A born-digital PDF is served as a rewrite of its stored original (which stays byte for byte
under `originals/`): no JavaScript, no document or page actions (OpenAction, AA), no
Launch, URI, SubmitForm or other actions that leave the page, no XFA forms, no embedded
files, no RichMedia, 3D, sound or movie annotations. The files a PDF carries are read out
here so that ingest can register each as a document of its own (`pdf_attachments`).
"""

from __future__ import annotations

import io
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pikepdf

from kho.core.errors import BadInputError, LimitExceededError

MAX_ATTACHMENTS = 64  # per PDF; more is a refusal, not a silent cut
# Keys whose whole value is active content or a carried file.
DROP_KEYS = frozenset(
    {"/OpenAction", "/AA", "/JS", "/XFA", "/EF", "/AF", "/RichMediaContent", "/Collection"}
)
NAME_TREES = ("/JavaScript", "/EmbeddedFiles")  # entries of the catalog's /Names
ACTIONS_KEPT = frozenset({"/GoTo", "/Named", "/Thread"})  # moves within the document
ANNOTS_DROPPED = frozenset({"/FileAttachment", "/RichMedia", "/Screen", "/Movie", "/Sound", "/3D"})


@dataclass(frozen=True)
class Attachment:
    name: str  # the file name the PDF gives it (its last path part)
    data: bytes


def sanitized_pdf(path: Path) -> tuple[bytes, Counter]:
    """The PDF at `path` rewritten without active content; and what was taken out (counts
    by key or kind, for the log)."""
    try:
        with pikepdf.open(path) as pdf:
            removed = strip_active_content(pdf)
            buf = io.BytesIO()
            pdf.save(buf, deterministic_id=True)
    except pikepdf.PdfError as err:
        raise BadInputError(f"corrupt PDF: cannot rewrite it safely: {err}") from err
    return buf.getvalue(), removed


def strip_active_content(pdf: pikepdf.Pdf) -> Counter:
    """Remove, in place, everything the module's docstring lists; returns what went."""
    removed: Counter = Counter()
    names = pdf.Root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        for key in NAME_TREES:
            if key in names:
                del names[key]
                removed[key] += 1

    def visit(obj: pikepdf.Object) -> None:
        for key in list(obj.keys()):
            value = obj[key]
            if key in DROP_KEYS:
                del obj[key]
                removed[key] += 1
            elif key in ("/A", "/Next") and _leaves_the_page(value):
                del obj[key]
                removed[f"action {_action_type(value)}"] += 1
            elif key == "/Annots" and isinstance(value, pikepdf.Array):
                kept = [a for a in value if _subtype(a) not in ANNOTS_DROPPED]
                if len(kept) != len(value):
                    removed["annotations"] += len(value) - len(kept)
                    obj[key] = pikepdf.Array(kept)

    _walk(pdf.trailer, visit)
    return removed


def pdf_attachments(path: Path, max_bytes: int) -> list[Attachment]:
    """Every file embedded in the PDF (the EmbeddedFiles tree, file-attachment annotations,
    associated files), decoded. Raises LimitExceededError past `max_bytes` per file or
    MAX_ATTACHMENTS files, BadInputError if one cannot be decoded."""
    found: list[Attachment] = []
    streams: set[tuple[int, int]] = set()

    def visit(obj: pikepdf.Object) -> None:
        ef = obj.get("/EF")
        if not isinstance(ef, pikepdf.Dictionary):
            return
        stream = ef.get("/UF") or ef.get("/F")
        if not isinstance(stream, pikepdf.Stream) or stream.objgen in streams:
            return
        streams.add(stream.objgen)
        if len(streams) > MAX_ATTACHMENTS:
            raise LimitExceededError(
                f"PDF carries more than {MAX_ATTACHMENTS} embedded files: extract them "
                "and ingest them on their own"
            )
        found.append(Attachment(_file_name(obj, len(streams)), _decoded(stream, max_bytes)))

    try:
        with pikepdf.open(path) as pdf:
            _walk(pdf.trailer, visit)
    except pikepdf.PdfError as err:
        raise BadInputError(f"corrupt PDF: cannot read its embedded files: {err}") from err
    return found


def _walk(root: pikepdf.Object, visit: Callable[[pikepdf.Object], None]) -> None:
    """Call `visit` on every dictionary and stream reachable from `root`, once each, before
    walking into what it left in place."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if obj.is_indirect:
            if obj.objgen in seen:
                continue
            seen.add(obj.objgen)
        if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
            visit(obj)
            stack.extend(_children(obj))
        elif isinstance(obj, pikepdf.Array):
            stack.extend(o for o in obj if isinstance(o, _CONTAINERS))


_CONTAINERS = (pikepdf.Dictionary, pikepdf.Stream, pikepdf.Array)


def _children(obj: pikepdf.Object) -> Iterator[pikepdf.Object]:
    for key in obj.keys():
        value = obj[key]
        if isinstance(value, _CONTAINERS):
            yield value


def _action_type(action: pikepdf.Object) -> str:
    if isinstance(action, pikepdf.Dictionary):
        return str(action.get("/S", "unknown"))
    return "unknown"


def _leaves_the_page(action: pikepdf.Object) -> bool:
    """An action other than moving within the document (or a chain holding one)."""
    if isinstance(action, pikepdf.Array):
        return any(_leaves_the_page(a) for a in action)
    if not isinstance(action, pikepdf.Dictionary):
        return False
    if _action_type(action) not in ACTIONS_KEPT:
        return True
    return "/Next" in action and _leaves_the_page(action["/Next"])


def _subtype(annot: pikepdf.Object) -> str:
    if isinstance(annot, pikepdf.Dictionary):
        return str(annot.get("/Subtype", ""))
    return ""


def _file_name(spec: pikepdf.Object, number: int) -> str:
    raw = spec.get("/UF") or spec.get("/F")
    name = str(raw) if isinstance(raw, pikepdf.String) else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name or f"attachment-{number}"


def _decoded(stream: pikepdf.Stream, max_bytes: int) -> bytes:
    """The stream's data, refusing more than `max_bytes` (inflated with a cap when it is
    plain Flate, so a compression bomb stops at the limit)."""
    too_big = LimitExceededError(
        f"an embedded file is over limits.max_file_bytes={max_bytes:,}: extract it and "
        "ingest it on its own, or raise the limit"
    )
    filt = stream.get("/Filter")
    try:
        if filt == pikepdf.Name.FlateDecode and "/DecodeParms" not in stream:
            inflater = zlib.decompressobj()
            data = inflater.decompress(stream.read_raw_bytes(), max_bytes + 1)
        else:
            data = stream.read_bytes()
    except (pikepdf.PdfError, zlib.error) as err:
        raise BadInputError(f"corrupt PDF: an embedded file cannot be decoded: {err}") from err
    if len(data) > max_bytes:
        raise too_big
    return data
