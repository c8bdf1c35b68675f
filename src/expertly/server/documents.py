"""The documents API: list (paged, only what the caller may read), get one with its chunks,
delete, re-index, and upload files (multipart) into a background ingest job with a status
to poll (``GET /v1/jobs/{id}``, from any worker process).

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
from pydantic import BaseModel, ConfigDict, Field

from expertly.server.auth import requires, service_of
from expertly.server.chat import ready
from expertly.server.errors import APIError
from expertly.server.jobs import PUBLIC
from expertly.server.keys import is_valid_name
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
    info = await _visible_document(request, caller, doc_id)
    owner = info.metadata.get("tenant")
    if caller.principal is not None and owner != caller.principal.tenant:
        # reading a shared (tenant-less) document is not owning it
        raise APIError(
            403,
            f"The document '{doc_id}' is shared by every tenant (it has no tenant): only a "
            "key without a tenant (`expertly keys create --scopes ingest`) may delete it.",
            code="permission_denied",
        )
    deleted = await asyncio.to_thread(service_of(request).workspace.store.delete, doc_id)
    return {"id": doc_id, "object": "document", "deleted": deleted}


class ReindexAll(BaseModel):
    """Which documents ``POST /v1/documents/reindex`` re-indexes."""

    model_config = ConfigDict(extra="forbid")
    tenant: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="only this tenant's documents (`_public`: those without tenant); "
        "default: every document the key may read (a tenant's admin key: its tenant's)",
    )


@router.post("/v1/documents/reindex", status_code=202)
async def reindex_all(
    request: Request,
    body: ReindexAll | None = None,
    caller: Caller = Depends(requires("admin")),
) -> dict[str, Any]:
    """Re-index every document of a tenant (or all) in a background job: re-read each
    source file if it is still there, else re-chunk and re-embed the stored text.
    Poll GET /v1/jobs/{job id}."""
    service = service_of(request)
    ready(service)
    asked = body.tenant if body is not None else None
    own = caller.principal.tenant if caller.principal is not None else None
    if caller.principal is not None and asked not in (None, own or PUBLIC):
        raise APIError(
            403,
            f"This API key re-indexes tenant {own!r} only.",
            param="tenant",
            code="insufficient_scope",
        )
    docs = await asyncio.to_thread(lambda: list(service.workspace.store.documents()))
    wanted = asked if asked is not None else own
    chosen = [
        d.id
        for d in docs
        if visible(caller, d.metadata)
        and (wanted is None or (d.metadata.get("tenant") or PUBLIC) == wanted)
    ]
    whole = len(chosen) == len(docs)
    job = await asyncio.to_thread(
        service.jobs.submit_reindex, caller.id, wanted, chosen, whole_index=whole
    )
    return job.to_dict()


@router.post("/v1/documents/{doc_id:path}/reindex", status_code=202)
async def reindex_document(
    doc_id: str, request: Request, caller: Caller = Depends(requires("ingest"))
) -> dict[str, Any]:
    """Re-index one document in a background job (its source file if still there, else
    its stored text); poll GET /v1/jobs/{job id}."""
    info = await _visible_document(request, caller, doc_id)
    jobs = service_of(request).jobs
    tenant = info.metadata.get("tenant")
    job = await asyncio.to_thread(
        jobs.submit_reindex, caller.id, tenant, [doc_id], whole_index=False
    )
    return job.to_dict()


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
    job = await asyncio.to_thread(
        service.jobs.submit_upload, job_id, caller.id, owner_tenant, names, doc_metadata
    )
    return job.to_dict()


@router.get("/v1/jobs/{job_id}")
async def job_status(
    job_id: str, request: Request, caller: Caller = Depends(requires("ingest"))
) -> dict[str, Any]:
    """An ingest job (upload or re-index) this key started: its status and results."""
    job = await asyncio.to_thread(service_of(request).jobs.get, job_id)
    if job is None or (caller.principal is not None and job.owner != caller.id):
        raise APIError(404, f"No ingest job {job_id!r}.", code="not_found")
    return job.to_dict()


@router.get("/v1/uploads/{job_id}")
async def upload_status(
    job_id: str, request: Request, caller: Caller = Depends(requires("ingest"))
) -> dict[str, Any]:
    """The same as GET /v1/jobs/{job id} (the path uploads were first polled at)."""
    return await job_status(job_id, request, caller)


def _tenant(caller: Caller, asked: str | None) -> str | None:
    """The tenant of uploaded documents: the key's own (an admin key may choose one with a
    valid name: it also names the upload's folder)."""
    if caller.principal is None:
        if asked and not is_valid_name(asked):
            raise APIError(
                400,
                f"{asked!r} cannot be a tenant: use letters, digits, '.', '_' and '-' (at "
                "most 64 characters, starting with a letter or digit).",
                param="tenant",
            )
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
