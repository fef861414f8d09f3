"""Uploads from the object browser.

The console's script sends a small file in one PUT and a large one as a multipart upload:
create, one PUT per part (a ``File.slice`` of it), complete, or abort on cancel or failure.
Each body streams from the socket into the blob store, so a 2 GiB file never sits in memory.
Without script, the upload form posts the files as multipart/form-data instead.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from nexq.core.errors import Invalid
from nexq.core.identity import Principal
from nexq.storage.console.links import bucket_url
from nexq.storage.errors import InvalidArgument
from nexq.storage.incoming import IncomingBody
from nexq.storage.model import MAX_PUT_BYTES, validate_key
from nexq.storage.multipart import CompletedPart, Multipart
from nexq.storage.service import NewContent, ObjectStorage
from nexq.web.console.streaming import receive_body
from nexq.web.console.web import Flash, Pages

OCTETS = "application/octet-stream"
COPY_BYTES = 1024 * 1024


class NewUpload(BaseModel):
    key: str = Field(min_length=1)
    content_type: str = OCTETS


class UploadedPart(BaseModel):
    number: int
    etag: str


class Completion(BaseModel):
    key: str = Field(min_length=1)
    parts: list[UploadedPart] = Field(min_length=1)


class Abandon(BaseModel):
    key: str = Field(min_length=1)


def content_type(value: str | None) -> str:
    """The type to store: it is sent back as a header on every GET, so only a clean value."""
    if value and len(value) <= 255 and all(" " <= c <= "~" for c in value):
        return value
    return OCTETS


def file_name(sent: str) -> str:
    """The name a form upload stores under (some browsers send a whole client path)."""
    return sent.replace("\\", "/").rsplit("/", 1)[-1]


def object_key(key: str) -> str:
    """``key``, if an S3 tool could address the object stored under it (the console takes
    keys from query strings, JSON and file names, where S3's parsing rules nothing out)."""
    validate_key(key)
    return key


def declared_size(request: Request) -> int:
    """The body's Content-Length (0 when absent: the commit checks the quota exactly)."""
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else 0


async def receive(request: Request, open_body: Callable[[], IncomingBody]) -> IncomingBody:
    """The request body, written to a new blob (``open_body`` checks access and room first)."""
    body = await run_in_threadpool(open_body)
    try:
        await receive_body(request, body.write)
    except BaseException:
        await run_in_threadpool(body.abort)
        raise
    return body


def router(storage: ObjectStorage, multipart: Multipart, pages: Pages) -> APIRouter:
    """The upload endpoints of a bucket (JSON for the script, a form for everyone else)."""
    web = APIRouter(prefix="/storage/buckets/{name}")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    @web.put("/object")
    async def put_object(request: Request, name: str, key: str, caller: SignedIn) -> JSONResponse:
        content = NewContent(
            {"content-type": content_type(request.headers.get("content-type"))}, {}
        )
        as_account = caller
        object_key(key)

        def open_body() -> IncomingBody:
            storage.check_room(as_account, name, declared_size(request))
            return storage.receive((), MAX_PUT_BYTES)

        body = await receive(request, open_body)
        meta = await run_in_threadpool(storage.put_object, as_account, name, key, body, content)
        return JSONResponse({"key": meta.key, "size": meta.size, "etag": meta.etag})

    @web.post("/uploads")
    def create_upload(name: str, upload: NewUpload, caller: SignedIn) -> JSONResponse:
        headers = {"content-type": content_type(upload.content_type)}
        started = multipart.create(caller, name, object_key(upload.key), headers, {}, None, None)
        return JSONResponse({"upload_id": started.id, "key": started.key})

    @web.put("/uploads/{upload_id}/parts/{number}")
    async def upload_part(
        request: Request, name: str, upload_id: str, number: int, key: str, caller: SignedIn
    ) -> JSONResponse:
        as_account = caller

        def open_body() -> IncomingBody:
            upload = multipart.upload(as_account, name, key, upload_id)
            multipart.check_part_room(as_account, name, upload, number, declared_size(request))
            return storage.receive((), MAX_PUT_BYTES)

        body = await receive(request, open_body)
        part = await run_in_threadpool(
            multipart.upload_part, as_account, name, key, upload_id, number, body, None, {}
        )
        return JSONResponse({"number": part.number, "etag": part.etag, "size": part.size})

    @web.post("/uploads/{upload_id}/complete")
    def complete_upload(
        name: str, upload_id: str, done: Completion, caller: SignedIn
    ) -> JSONResponse:
        parts = [CompletedPart(p.number, p.etag, {}) for p in done.parts]
        meta = multipart.complete(caller, name, done.key, upload_id, parts, NewContent({}, {}))
        return JSONResponse({"key": meta.key, "size": meta.size, "etag": meta.etag})

    @web.post("/uploads/{upload_id}/abort")
    def abort_upload(name: str, upload_id: str, gone: Abandon, caller: SignedIn) -> JSONResponse:
        multipart.abort(caller, name, gone.key, upload_id)
        return JSONResponse({})

    @web.post("/upload")
    def upload_form(
        request: Request,
        name: str,
        caller: SignedIn,
        files: Annotated[list[UploadFile], File()],
        prefix: Annotated[str, Form()] = "",
    ) -> Response:
        """Without script: the files arrive as a form, spooled to disk by the parser."""
        as_account = caller
        chosen = [
            (upload, prefix + file_name(upload.filename)) for upload in files if upload.filename
        ]
        # Every name is checked before any file is stored: a refusal stores nothing.
        for upload, key in chosen:
            try:
                object_key(key)
            except Invalid as exc:
                sent = upload.filename or ""
                shown = sent if len(sent) <= 60 else sent[:60] + "…"
                raise InvalidArgument(f"{shown!r}: {exc.message}") from None
        stored = 0
        for upload, key in chosen:
            body = storage.receive((), MAX_PUT_BYTES)
            try:
                while chunk := upload.file.read(COPY_BYTES):
                    body.write(chunk)
            except BaseException:
                body.abort()
                raise
            content = NewContent({"content-type": content_type(upload.content_type)}, {})
            storage.put_object(as_account, name, key, body, content)
            stored += 1
        flash = Flash("success", f"Uploaded {stored} file{'' if stored == 1 else 's'}.")
        return pages.redirect(request, bucket_url(name, prefix=prefix), flash)

    return web
