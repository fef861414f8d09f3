"""PostObject: an upload from an HTML form, authorized by a signed policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlencode

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError

from nexq.storage.incoming import IncomingBody
from nexq.storage.model import CONTENT_HEADERS, MAX_PUT_BYTES, ObjectMeta, has_control_characters
from nexq.storage.s3 import post_policy
from nexq.storage.s3.acl import check_form_acl
from nexq.storage.s3.body import BUFFER_BYTES, incomplete_body
from nexq.storage.s3.errors import S3Error, invalid_argument
from nexq.storage.s3.handlers.common import Services, quoted
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.xml import document, escape
from nexq.storage.service import NewContent

MAX_FIELDS_BYTES = 64 * 1024


@dataclass
class _Form:
    """What the streaming form parser has seen so far."""

    fields: dict[str, str] = field(default_factory=dict)
    file_name: str | None = None
    in_file: bool = False
    file_done: bool = False
    pending: list[bytes] = field(default_factory=list)
    pending_size: int = 0
    _header: bytes = b""
    _value: bytes = b""
    _name: str = ""
    _data: bytearray = field(default_factory=bytearray)
    _size: int = 0

    def parser(self, boundary: bytes) -> MultipartParser:
        return MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def _begin(self) -> None:
        self._name, self._data = "", bytearray()
        self.file_name = self.file_name if self.in_file else None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            params = _disposition(self._value.decode("utf-8", "replace"))
            self._name = params.get("name", "")
            if self._name.lower() == "file":
                self.in_file = True
                self.file_name = params.get("filename", "")
        self._header, self._value = b"", b""

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file and not self.file_done:
            piece = bytes(data[start:end])
            self.pending.append(piece)
            self.pending_size += len(piece)
            return
        self._size += end - start
        if self._size > MAX_FIELDS_BYTES:
            raise invalid_argument("The form fields are too large.", "form", "")
        self._data += data[start:end]

    def _part_end(self) -> None:
        if self.in_file:
            self.file_done = True
        elif self._name:
            self.fields[self._name] = self._data.decode("utf-8", "replace")

    def take(self) -> bytes:
        data = b"".join(self.pending)
        self.pending, self.pending_size = [], 0
        return data


def _disposition(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in value.split(";")[1:]:
        name, _, raw = item.strip().partition("=")
        params[name.lower()] = raw.strip().strip('"')
    return params


async def post_object(req: S3Request, s: Services) -> Response:
    content_type = req.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise S3Error(
            "PreconditionFailed",
            "Bucket POST must be of the enclosure-type multipart/form-data",
            412,
        )
    boundary = _disposition("x;" + content_type.partition(";")[2]).get("boundary")
    if not boundary:
        raise invalid_argument("The multipart boundary is missing.", "Content-Type", content_type)
    form = _Form()
    parser = form.parser(boundary.encode("latin-1"))
    bucket = req.bucket or ""
    body: IncomingBody | None = None
    policy: post_policy.Policy | None = None
    more = True
    try:
        while more:
            message = await req.receive()
            if message["type"] == "http.disconnect":
                raise incomplete_body()
            try:
                parser.write(message.get("body", b""))
            except MultipartParseError:
                raise S3Error(
                    "MalformedPOSTRequest",
                    "The body of your POST request is not well-formed multipart/form-data.",
                    400,
                ) from None
            more = message.get("more_body", False)
            if form.in_file and body is None:
                policy, body = await _authorize(req, s, dict(form.fields), bucket)
            if body is not None and (form.pending_size >= BUFFER_BYTES or not more):
                await req.run(partial(body.write, form.take()))
        if body is None or policy is None or not form.file_done:
            raise invalid_argument(
                "POST requires exactly one file upload per request.", "file", "0"
            )
        meta = await req.run(lambda: _finish(req, s, form, policy, body, bucket))
    except BaseException:
        if body is not None:
            await req.run(body.abort)
        raise
    return _answer(form.fields, bucket, meta)


async def _authorize(
    req: S3Request, s: Services, fields: dict[str, str], bucket: str
) -> tuple[post_policy.Policy, IncomingBody]:
    """Check the signed policy once the fields are known, before any file byte is stored."""
    req.authenticate = lambda _req: s.authenticate_post(fields)
    return await req.run(partial(_start, req, s, fields, bucket))


def _start(
    req: S3Request, s: Services, fields: dict[str, str], bucket: str
) -> tuple[post_policy.Policy, IncomingBody]:
    policy = post_policy.decode(fields.get("policy") or fields.get("Policy") or "")
    post_policy.check(policy, fields, bucket)
    check_form_acl(fields, req.caller.account.id)
    limit = min(policy.max_length or MAX_PUT_BYTES, MAX_PUT_BYTES)
    return policy, s.objects.receive((), limit)


def _finish(
    req: S3Request,
    s: Services,
    form: _Form,
    policy: post_policy.Policy,
    body: IncomingBody,
    bucket: str,
) -> ObjectMeta:
    error = post_policy.length_error(policy, body.size)
    if error is not None:
        raise error
    lower = {k.lower(): v for k, v in form.fields.items()}
    key_template = lower.get("key")
    if not key_template:
        raise invalid_argument("Bucket POST must contain a field named 'key'.", "key", "")
    key = key_template.replace("${filename}", form.file_name or "")
    headers = {name: lower[name] for name in CONTENT_HEADERS if name in lower}
    for name, value in headers.items():
        if has_control_characters(value):
            raise invalid_argument(f"The {name} field contains control characters.", name, "")
    headers.setdefault("content-type", "binary/octet-stream")
    metadata = {k[11:]: v for k, v in lower.items() if k.startswith("x-amz-meta-")}
    lower["key"] = key
    form.fields = {**form.fields, "key": key}
    meta = s.objects.put_object(req.caller, bucket, key, body, NewContent(headers, metadata))
    req.data_in = meta.size
    return meta


def _answer(fields: dict[str, str], bucket: str, meta: ObjectMeta) -> Response:
    lower = {k.lower(): v for k, v in fields.items()}
    etag = quoted(meta.etag)
    redirect = lower.get("success_action_redirect") or lower.get("redirect")
    if redirect:
        query = urlencode({"bucket": bucket, "key": meta.key, "etag": etag})
        joiner = "&" if "?" in redirect else "?"
        return Response(303, {"location": f"{redirect}{joiner}{query}", "etag": etag})
    status = lower.get("success_action_status", "204")
    if status == "201":
        response = Response.xml(
            document(
                "PostResponse",
                f"<Location>/{bucket}/{escape(meta.key)}</Location><Bucket>{bucket}</Bucket>"
                f"<Key>{escape(meta.key)}</Key><ETag>{etag}</ETag>",
            ),
            201,
        )
        response.headers["etag"] = etag
        return response
    return Response(200 if status == "200" else 204, {"etag": etag})
