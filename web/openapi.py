"""The OpenAPI 3.1 description of the JSON API (web/api.py), served at /api/v1/openapi.json.

Written by hand, beside the routes it describes; tests/test_api.py checks that its paths
are exactly the routes Flask registers under /api/v1, and tests/test_api_fuzz.py that the
server's replies keep to it.
"""

from __future__ import annotations

from .api import MAX_OFFSET
from .batches import MAX_ID
from .pages import FILTERS

STR, INT, NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}
STR_OR_NULL = {"type": ["string", "null"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(required: dict, optional: dict | None = None) -> dict:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


ERROR = _json(_ref("Error"), "Refused: what happened (error) and what to do next (hint).")
REFUSALS = {
    "400": ERROR | {"description": "A parameter is not valid."},
    "401": ERROR
    | {
        "description": "No identity, or a token that is unknown, expired or revoked.",
        "headers": {"WWW-Authenticate": {"schema": STR}},
    },
    "403": ERROR | {"description": "The principal may not do this."},
    "404": ERROR | {"description": "Missing, or hidden from this principal (the same answer)."},
}
DOC_ID = {
    "name": "doc_id",
    "in": "path",
    "required": True,
    "description": "A document id (SHA-256, hex) or a unique prefix of 6 or more characters.",
    "schema": STR,
}
PAGE = {
    "name": "page",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
BATCH_ID = {
    "name": "batch_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}


def _query(name: str, description: str, schema: dict | None = None, many: bool = False) -> dict:
    schema = schema or STR
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "array", "items": schema} if many else schema,
        **({"style": "form", "explode": True} if many else {}),
    }


SEARCH_PARAMS = [
    _query("q", 'Words (all required); "phrases", prefix*, -exclude.'),
    *(_query(k, f"Filter on {k} (repeat for alternatives).", many=True) for k in FILTERS),
    _query("from", "Earliest document date, ISO (2024-03-01)."),
    _query("to", "Latest document date, ISO."),
    _query("sort", "Order of the hits.", {"type": "string", "enum": ["relevance", "date"]}),
    _query("group", "One hit per document or per page.", {"enum": ["document", "page"]}),
    _query("marks", "ignore: also words whose marks OCR lost.", {"enum": ["exact", "ignore"]}),
    _query("after", "The `next` cursor of the previous page (instead of offset)."),
    _query("offset", "Hits to skip.", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
]


def _props(strs: str = "", ints: str = "", **more: dict) -> dict:
    """Properties: the names in `strs` strings, those in `ints` integers, and `more`."""
    return {**dict.fromkeys(strs.split(), STR), **dict.fromkeys(ints.split(), INT), **more}


SCHEMAS = {
    "Error": _object({"error": STR, "hint": STR, "code": INT}, {"problems": {"type": "array"}}),
    "Hit": _object(
        _props(
            "doc_id category snippet filename title doc_type issuer doc_date unit",
            "page level page_count",
            pages={"type": "array", "items": INT},
        ),
        _props("fonds dossier year origin_node origin_unit"),
    ),
    "SearchResult": _object(
        _props(
            "",
            "total offset limit loose",
            hits={"type": "array", "items": _ref("Hit")},
            facets={"type": "object", "additionalProperties": {"type": "array"}},
            next=STR_OR_NULL,
            estimated={"type": "boolean", "description": "total, facets, loose: estimates"},
        )
    ),
    "Document": _object(
        _props(
            "id filename unit category status created_at pdf",
            "page_count level",
            groups={"type": "array", "items": STR},
            fields={"type": "object", "description": "The Annex VI fields by name."},
            field_state={"type": "object", "additionalProperties": STR},
            pages={
                "type": "array",
                "items": _object({"page": INT, "status": STR, "confidence": NUM}),
            },
        ),
        {"kind": STR},
    ),
    "PageText": _object({"doc_id": STR, "page": INT, "text": STR, "confidence": NUM}),
    "Batch": _object(
        _props(
            "name operator line",
            "id pages_total pages_done pages_failed docs_total docs_indexed files_failed "
            "failures_total",
            finished={"type": "boolean"},
            failures={"type": "array"},
        ),
        {"pages_retrying": INT, "pages_per_min": NUM},
    ),
    "BatchList": _object({"batches": {"type": "array", "items": _ref("Batch")}}),
    "Upload": _object(
        {
            "batch": _ref("Batch"),
            "counts": {"type": "object", "additionalProperties": INT},
            "refused": {"type": "array", "items": STR},
        }
    ),
}

UPLOAD_FORM = _object(
    {
        "name": {**STR, "description": "The new batch's name, e.g. hs-2024-01."},
        "unit": {**STR, "description": "The unit path, within the uploader's, e.g. qk7/f9."},
        "level": {"type": "string", "enum": ["0", "1", "2", "3"]},
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
    },
    {"fonds": STR, "groups": STR, "dossier": STR, "folder_dossiers": {"enum": ["0", "1"]}},
)


def _get(summary: str, ok: dict, params: list | None = None, extra: dict | None = None) -> dict:
    return {
        "get": {
            "summary": summary,
            "parameters": params or [],
            "responses": {"200": ok, **REFUSALS, **(extra or {})},
        }
    }


def description() -> dict:
    """The API's description (OpenAPI 3.1), one dict."""
    paths = {
        "/api/v1/openapi.json": _get(
            "This description.", {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
        ),
        "/api/v1/search": _get(
            "Search the documents the principal may see, 20 hits a page.",
            _json(_ref("SearchResult"), "One page of hits, with facets and the next cursor."),
            SEARCH_PARAMS,
        ),
        "/api/v1/documents/{doc_id}": _get(
            "A document's record and fields.", _json(_ref("Document"), "The document."), [DOC_ID]
        ),
        "/api/v1/documents/{doc_id}/pages/{page}/text": _get(
            "The text read from one page.",
            _json(_ref("PageText"), "The page's text."),
            [DOC_ID, PAGE],
        ),
        "/api/v1/documents/{doc_id}/pdf": _get(
            "The document as a PDF use copy marked for the reader.",
            {"description": "The PDF.", "content": {"application/pdf": {}}},
            [DOC_ID],
        ),
        "/api/v1/batches": {
            **_get(
                "The batches the principal may see (operators: all; staff: their own).",
                _json(_ref("BatchList"), "The newest batches."),
            ),
            "post": {
                "summary": "Upload a batch (uploaders and operators), as the upload page does.",
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": UPLOAD_FORM}},
                },
                "responses": {
                    "201": _json(_ref("Upload"), "The batch was made and is being read."),
                    **REFUSALS,
                    "413": ERROR | {"description": "The upload (or one file) is too large."},
                },
            },
        },
        "/api/v1/batches/{batch_id}": _get(
            "One batch's progress and failures.", _json(_ref("Batch"), "The batch."), [BATCH_ID]
        ),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kho JSON API",
            "version": "1",
            "description": "Search and read the archive, follow and upload batches, with "
            "the access of the token's principal (kho web token create).",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `kho web token create --user NAME`.",
                }
            },
        },
        "security": [{"bearer": []}],
    }
