"""PostObject: an upload from an HTML form, authorized by a signed policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlencode, urlsplit

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError

from nexq.storage.errors import EntityTooLarge
from nexq.storage.incoming import IncomingBody
from nexq.storage.model import CONTENT_HEADERS, MAX_PUT_BYTES, ObjectMeta, has_control_characters
from nexq.storage.s3 import encoded_words, post_policy, post_signature, sse
from nexq.storage.s3.acl import new_object_acl
from nexq.storage.s3.body import BUFFER_BYTES, incomplete_body
from nexq.storage.s3.errors import S3Error, invalid_argument
from nexq.storage.s3.handlers.common import (
    Services,
    check_redirect_location,
    check_storage_class,
    object_url,
    quoted,
)
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.tagging_xml import parse_object_tagging
from nexq.storage.s3.xml import HEAD, escape
from nexq.storage.service import NewContent
from nexq.storage.website import REDIRECT_LOCATION

# AWS: the fields before the file may take 20 KB.
MAX_FIELDS_BYTES = 20 * 1024


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
                self.file_name = _base_name(params.get("filename"))
        self._header, self._value = b"", b""

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            if not self.file_done:
                piece = bytes(data[start:end])
                self.pending.append(piece)
                self.pending_size += len(piece)
            return  # AWS: the fields after the file are ignored
        self._size += end - start
        if self._size > MAX_FIELDS_BYTES:
            raise S3Error(
                "MaxPostPreDataLengthExceeded",
                "Your POST request fields preceeding the upload file was too large.",  # sic
                400,
                {"MaxPostPreDataLengthBytes": str(MAX_FIELDS_BYTES)},
            )
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


def _field(fields: dict[str, str], name: str) -> str | None:
    """The form field ``name`` (lowercase), whatever case the form gave its name in."""
    return next((value for key, value in fields.items() if key.lower() == name), None)


def _base_name(file_name: str | None) -> str | None:
    # AWS: of a path the browser sends, only what follows the last slash or backslash.
    return None if file_name is None else file_name.replace("\\", "/").rsplit("/", 1)[-1]


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
            "At least one of the pre-conditions you specified did not hold",
            412,
            {"Condition": "Bucket POST must be of the enclosure-type multipart/form-data"},
        )
    boundary = _disposition("x;" + content_type.partition(";")[2]).get("boundary")
    if not boundary:
        raise _malformed()
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
                raise _malformed() from None
            more = message.get("more_body", False)
            if form.in_file and body is None:
                form.fields = _expanded(form.fields, form.file_name)
                policy, body = await _authorize(req, s, form.fields, bucket)
            ready = form.pending_size >= BUFFER_BYTES or not more
            if body is not None and policy is not None and ready:
                await req.run(partial(_write, body, policy, form.take()))
        if body is None or policy is None or not form.file_done:
            raise invalid_argument(
                "POST requires exactly one file upload per request.", "file", "0"
            )
        meta = await req.run(lambda: _finish(req, s, form, policy, body, bucket))
    except BaseException:
        if body is not None:
            await req.run(body.abort)
        raise
    answer = _answer(req, form.fields, bucket, meta)
    customer = sse.check_form(form.fields, req.secure).customer  # checked before the file
    answer.headers.update(sse.response_headers(meta.headers, customer, s.objects.seals_at_rest))
    return answer


def _write(body: IncomingBody, policy: post_policy.Policy, data: bytes) -> None:
    try:
        body.write(data)
    except EntityTooLarge:
        # Past the policy's content-length-range: S3's answer for the form, not PutObject's.
        error = post_policy.length_error(policy, body.size + len(data))
        if error is None:
            raise
        raise error from None


def _malformed() -> S3Error:
    return S3Error(
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
        400,
    )


def _expanded(fields: dict[str, str], file_name: str | None) -> dict[str, str]:
    """The fields with ${filename} replaced (AWS: in every field, before the policy is checked;
    kept as it is when the file part names no file)."""
    if file_name is None:
        return dict(fields)
    return {name: value.replace("${filename}", file_name) for name, value in fields.items()}


async def _authorize(
    req: S3Request, s: Services, fields: dict[str, str], bucket: str
) -> tuple[post_policy.Policy, IncomingBody]:
    """Check the signed policy once the fields are known, before any file byte is stored."""
    key = _field(fields, "key") or ""
    if not key:
        raise post_signature.missing_field("key")
    # The request is unsigned: its form signs it (or is anonymous). The object it names is
    # what a bucket policy or ACL is asked about, as for a PutObject.
    req.form, req.key = fields, key
    return await req.run(partial(_start, req, s, fields, bucket))


def _start(
    req: S3Request, s: Services, fields: dict[str, str], bucket: str
) -> tuple[post_policy.Policy, IncomingBody]:
    encoded = _field(fields, "policy")
    if encoded is None:  # an anonymous form: nothing signed, nothing to hold it to
        policy = post_policy.UNCONDITIONAL
    else:
        policy = post_policy.decode(encoded)
        post_policy.check(policy, fields, bucket)
    new_object_acl(req.caller, fields, s.acl, bucket, "acl")  # refused before any file byte
    _form_tags(fields)
    check_storage_class(_field(fields, "x-amz-storage-class"))
    requested = sse.check_form(fields, req.secure)
    limit = min(policy.max_length or MAX_PUT_BYTES, MAX_PUT_BYTES)
    sealing = s.objects.write_key(req.caller, bucket, requested)
    return policy, s.objects.receive((), limit, sealing)


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
    key = lower["key"]
    headers = {name: lower[name] for name in CONTENT_HEADERS if name in lower}
    for name, value in headers.items():
        if has_control_characters(value):
            raise invalid_argument(f"The {name} field contains control characters.", name, "")
    headers.setdefault("content-type", "binary/octet-stream")
    check_redirect_location(headers.get(REDIRECT_LOCATION))
    metadata = {
        k[11:]: encoded_words.decode(v) for k, v in lower.items() if k.startswith("x-amz-meta-")
    }
    headers.update(new_object_acl(req.caller, form.fields, s.acl, bucket, "acl"))
    content = NewContent(headers, metadata, tags=_form_tags(form.fields))
    meta = s.objects.put_object(req.caller, bucket, key, body, content)
    req.data_in = meta.size
    return meta


def _form_tags(fields: dict[str, str]) -> tuple[tuple[str, str], ...] | None:
    """The ``tagging`` field's tags (a Tagging document, as PutObjectTagging's body)."""
    document = _field(fields, "tagging")
    return None if document is None else parse_object_tagging(document.encode()).pairs


def _answer(req: S3Request, fields: dict[str, str], bucket: str, meta: ObjectMeta) -> Response:
    lower = {k.lower(): v for k, v in fields.items()}
    etag = quoted(meta.etag)
    redirect = lower.get("success_action_redirect") or lower.get("redirect")
    if redirect and _is_absolute_url(redirect):
        # S3 compat: bucket, key and etag appended, form-encoded, to the URL's own query.
        query = urlencode({"bucket": bucket, "key": meta.key, "etag": etag})
        joiner = "&" if "?" in redirect else "?"
        return Response(303, {"location": f"{redirect}{joiner}{query}", "etag": etag})
    location = object_url(req, meta.key)
    headers = {"etag": etag, "location": location}
    status = lower.get("success_action_status", "204")
    if status == "201":
        # S3 compat: the PostResponse document has no namespace.
        body = (
            f"{HEAD}<PostResponse><Location>{escape(location)}</Location><Bucket>{bucket}</Bucket>"
            f"<Key>{escape(meta.key)}</Key><ETag>{etag}</ETag></PostResponse>"
        )
        return Response(201, {**headers, "content-type": "application/xml"}, body.encode())
    return Response(200 if status == "200" else 204, headers)


def _is_absolute_url(value: str) -> bool:
    # AWS: a redirect it cannot interpret is as if the field were not there.
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
