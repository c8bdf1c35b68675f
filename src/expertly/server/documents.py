"""The documents API: list (paged, only what the caller may read), get one with its chunks,
delete, and upload files (multipart) into a background ingest job with a status to poll.

Uploads take the caller's tenant (a key cannot write into another tenant); groups must be
the key's own unless it is an admin key. Bad files are reported per file with their reason;
the rest are indexed, as with ``expertly ingest``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from expertly.server.auth import requires, service_of
from expertly.server.chat import ready
from expertly.server.errors import APIError
from expertly.server.service import Caller
from expertly.server.wire import jsonable
from expertly.types import DocumentInfo

router = APIRouter()
MAX_FILES = 100
_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")


def visible(caller: Caller, metadata: Mapping[str, Any]) -> bool:
    """Whether the caller may read a document with this metadata (the same rule the store
    search applies: public or its tenant, and no groups or a shared group)."""
    who = caller.principal
    if who is None:
        return True
    tenant = metadata.get("tenant")
    groups = metadata.get("groups") or []
    if tenant is not None and tenant != who.tenant:
        return False
    return not groups or bool(set(groups) & set(who.groups))


def info_dict(info: DocumentInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "object": "document",
        "source": info.source,
        "title": info.title,
        "format": info.format,
        "chunks": info.chunks,
        "chars": info.chars,
        "updated_at": info.updated_at,
        "metadata": jsonable(info.metadata),
    }


@router.get("/v1/documents")
async def list_documents(
    request: Request,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    prefix: str = Query("", max_length=1000, description="only ids starting with this"),
    fmt: str | None = Query(
        None, alias="format", max_length=20, description="only this format (pdf, md, ...)"
    ),
    caller: Caller = Depends(requires("ask")),
) -> dict[str, Any]:
    service = service_of(request)
    ready(service)
    docs = await asyncio.to_thread(lambda: list(service.workspace.store.documents()))
    mine = [
        d
        for d in docs
        if visible(caller, d.metadata)
        and d.id.startswith(prefix)
        and (fmt is None or d.format == fmt)
    ]
    page = mine[offset : offset + limit]
    return {
        "object": "list",
        "data": [info_dict(d) for d in page],
        "total": len(mine),
        "has_more": offset + len(page) < len(mine),
    }


async def _visible_document(request: Request, caller: Caller, doc_id: str) -> DocumentInfo:
    service = service_of(request)
    ready(service)
    info = await asyncio.to_thread(service.workspace.store.get_document, doc_id)
    if info is None or not visible(caller, info.metadata):  # others' documents do not exist
        raise APIError(404, f"No document {doc_id!r}: see GET /v1/documents.", code="not_found")
    return info


@router.get("/v1/documents/{doc_id:path}/chunks")
async def document_chunks(
    doc_id: str, request: Request, caller: Caller = Depends(requires("ask"))
) -> dict[str, Any]:
    info = await _visible_document(request, caller, doc_id)
    chunks = await asyncio.to_thread(service_of(request).workspace.store.chunks, doc_id)
    return {
        **info_dict(info),
        "chunks": [
            {"id": c.id, "index": c.index, "text": c.text, "start": c.start, "end": c.end,
             "page": c.page, "heading_path": list(c.heading_path)}
            for c in chunks
        ],
    }  # fmt: skip


@router.delete("/v1/documents/{doc_id:path}")
async def delete_document(
    doc_id: str, request: Request, caller: Caller = Depends(requires("ingest"))
) -> dict[str, Any]:
    await _visible_document(request, caller, doc_id)
    deleted = await asyncio.to_thread(service_of(request).workspace.store.delete, doc_id)
    return {"id": doc_id, "object": "document", "deleted": deleted}


@router.get("/v1/documents/{doc_id:path}")
async def get_document(
    doc_id: str, request: Request, caller: Caller = Depends(requires("ask"))
) -> dict[str, Any]:
    return info_dict(await _visible_document(request, caller, doc_id))


@router.post("/v1/uploads", status_code=202)
async def upload(
    request: Request,
    files: list[UploadFile] = File(...),
    tenant: str | None = Form(None),
    groups: str = Form(""),
    metadata: str = Form("{}"),
    caller: Caller = Depends(requires("ingest")),
) -> dict[str, Any]:
    """Start an ingest job for the uploaded files; poll GET /v1/uploads/{job id}."""
    service = service_of(request)
    ready(service)
    if not files or len(files) > MAX_FILES:
        raise APIError(400, f"Send 1 to {MAX_FILES} files per upload.", param="files")
    owner_tenant = _tenant(caller, tenant)
    group_list = [g.strip() for g in groups.split(",") if g.strip()]
    if caller.principal is not None and not set(group_list) <= set(caller.principal.groups):
        raise APIError(
            403,
            "Documents can only be given groups the API key belongs to "
            f"({', '.join(caller.principal.groups) or 'none'}).",
            param="groups",
            code="insufficient_scope",
        )
    extra = _metadata(metadata)
    job_id, folder = service.jobs.folder_for(owner_tenant)
    names = []
    for upload_file in files:
        name = (upload_file.filename or "").strip()
        if not _NAME.match(name) or name.startswith("."):
            raise APIError(
                400, f"Unusable file name {name!r}: give a plain file name.", param="files"
            )
        if name in names:
            raise APIError(400, f"The file {name!r} is sent twice.", param="files")
        names.append(name)
        data = await upload_file.read()
        await asyncio.to_thread((folder / name).write_bytes, data)
    doc_metadata = {**extra, "groups": group_list}
    if owner_tenant is not None:
        doc_metadata["tenant"] = owner_tenant
    job = service.jobs.submit(job_id, caller.id, owner_tenant, names, doc_metadata)
    return job.to_dict()


@router.get("/v1/uploads/{job_id}")
async def job_status(
    job_id: str, request: Request, caller: Caller = Depends(requires("ingest"))
) -> dict[str, Any]:
    job = service_of(request).jobs.jobs.get(job_id)
    if job is None or (caller.principal is not None and job.owner != caller.id):
        raise APIError(404, f"No upload job {job_id!r}.", code="not_found")
    return job.to_dict()


def _tenant(caller: Caller, asked: str | None) -> str | None:
    """The tenant of uploaded documents: the key's own (an admin key may choose)."""
    if caller.principal is None:
        return asked or None
    if asked not in (None, "", caller.principal.tenant):
        raise APIError(
            403,
            f"This API key writes into tenant {caller.principal.tenant!r} only.",
            param="tenant",
            code="insufficient_scope",
        )
    return caller.principal.tenant


def _metadata(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or {"tenant", "groups"} & set(value):
        raise APIError(
            400,
            "'metadata' must be a JSON object (without tenant or groups: use those fields).",
            param="metadata",
        )
    return value
