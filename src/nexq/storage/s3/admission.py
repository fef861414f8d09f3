"""What a request's head alone decides, before any byte of its body is read.

A client that sends ``Expect: 100-continue`` waits for ``100 Continue`` before it sends the
body, and uvicorn sends that at the app's first ``receive()``. S3 answers such a request
with its refusal instead when the head already dooms it (a bad signature, no such bucket,
another account's bucket; the handlers add the quota and the size), so the client never
uploads bytes that would be thrown away: every check here runs before a handler reads.
"""

from __future__ import annotations

from typing import Any

from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.handlers.common import Services
from nexq.storage.s3.http import S3Request, expects_continue
from nexq.storage.s3.operations import Operation

Scope = dict[str, Any]


class BodyWatch:
    """A request's ASGI ``receive``, remembering whether the body was ever asked for."""

    def __init__(self, receive: Any) -> None:
        self._receive = receive
        self.asked = False

    async def __call__(self) -> Any:
        self.asked = True
        return await self._receive()


def watch_body(scope: Scope, receive: Any) -> BodyWatch | None:
    """A :class:`BodyWatch` for a request that expects ``100 Continue``, else None."""
    for name, value in scope["headers"]:
        if name == b"expect" and value.strip().lower() == b"100-continue":
            return BodyWatch(receive)
    return None


def check_framing(req: S3Request) -> None:
    """Refuse a body framed only by HTTP chunking, as S3 does.

    S3 compat: S3 needs every body's length up front. A request with ``Transfer-Encoding``
    is refused with 501 NotImplemented naming the header, unless its body is aws-chunked
    with the decoded length declared (``x-amz-decoded-content-length``), which the SDKs'
    streaming uploads may send chunked.
    """
    if "transfer-encoding" not in req.headers:
        return
    streaming = req.headers.get("x-amz-content-sha256", "").startswith("STREAMING-")
    if streaming and "x-amz-decoded-content-length" in req.headers:
        return
    raise S3Error(
        "NotImplemented",
        "A header you provided implies functionality that is not implemented",
        501,
        {"Header": "Transfer-Encoding"},
    )


# A bucket's configuration documents: S3 answers NoSuchBucket (or AccessDenied) for a bucket
# that is not there (or not the caller's) before it reads and checks the document.
_DOCUMENTS = frozenset(
    {
        Operation.PUT_BUCKET_ENCRYPTION,
        Operation.PUT_BUCKET_VERSIONING,
        Operation.PUT_OBJECT_LOCK_CONFIGURATION,
        Operation.PUT_BUCKET_OWNERSHIP_CONTROLS,
        Operation.PUT_BUCKET_TAGGING,
        Operation.PUT_BUCKET_CORS,
        Operation.PUT_BUCKET_WEBSITE,
        Operation.PUT_BUCKET_LIFECYCLE,
        Operation.PUT_BUCKET_POLICY,
        Operation.PUT_PUBLIC_ACCESS_BLOCK,
        Operation.PUT_BUCKET_ACL,
    }
)


async def admit(req: S3Request, services: Services) -> None:
    """Refuse from the head what cannot succeed; for a request that expects ``100 Continue``
    or puts a bucket's configuration, that is also who signed it and whether the bucket is
    theirs to use."""
    check_framing(req)
    # A form upload is signed inside its body; CreateBucket's bucket does not exist yet.
    if req.operation not in _DOCUMENTS and (
        not expects_continue(req.headers) or req.operation is Operation.POST_OBJECT
    ):
        return

    def bucket_usable() -> None:
        if req.bucket is not None and req.operation is not Operation.CREATE_BUCKET:
            services.objects.bucket(req.caller, req.bucket)

    # Bounded work (a signature check, a cached bucket), inline as GET and HEAD do it: an
    # upload's own hop (open_body) then finds the caller known.
    await req.now(bucket_usable)  # authenticates the caller first
