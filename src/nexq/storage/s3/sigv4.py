"""AWS Signature Version 4, server side: parse what the client sent and re-derive its signature.

Everything here is pure: the caller hands over the method, the raw path and query as they
came off the wire, and the headers; this module builds the canonical request the client must
have built and signs it again.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_PAYLOAD_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
CHUNK_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
TRAILER_ALGORITHM = "AWS4-HMAC-SHA256-TRAILER"
TRAILER_SIGNATURE_HEADER = "x-amz-trailer-signature"
MAX_PRESIGNED_EXPIRES = 604800  # a week, S3's limit for presigned URLs

_UNRESERVED = "-_.~"
_FIELD_SEPARATOR = re.compile(r"[,\s]+")
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9\-_.~/]*")  # already canonical as it stands
_DATE = re.compile(r"\d{8}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_HEADER_SPACE = re.compile(r"[ \t\r\n\x0b\x0c]+")

HeaderSource = Mapping[str, Sequence[str]] | Callable[[str], Sequence[str]]
"""Lowercase header name -> every value the request carried for it, decoded from the wire."""

QueryPairs = Sequence[tuple[str, str | None]]
"""Percent-decoded (name, value) pairs in wire order; None when the pair had no ``=``."""


class SigV4Error(Exception):
    """A request's SigV4 authentication is malformed; ``code`` is the S3 error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class SigV4Credential:
    """What a SigV4 request claims: who signed, for which scope, over which headers."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str | None = None
    expires: int | None = None

    @property
    def scope(self) -> str:
        """The credential scope, ``date/region/service/aws4_request``."""
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


# ----------------------------------------------------------------------------- parsing


@functools.lru_cache(maxsize=1024)
def _parse_credential(value: str, code: str) -> tuple[str, str, str, str]:
    # Cached, as the next one is: a key's requests of one day all carry the same.
    parts = value.split("/")
    if len(parts) != 5 or not all(parts):
        raise SigV4Error(
            code,
            "the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != TERMINATOR:
        raise SigV4Error(
            code,
            f'the Credential has an incorrect terminal "{terminator}"; expecting "aws4_request".',
        )
    if not _DATE.fullmatch(date):
        raise SigV4Error(code, f'the Credential has an invalid date "{date}"; expecting YYYYMMDD.')
    return access_key_id, date, region, service


@functools.lru_cache(maxsize=1024)
def _parse_signed_headers(value: str, code: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not value or not all(names):
        raise SigV4Error(code, "the SignedHeaders list is empty or has an empty name.")
    if any(name != name.lower() for name in names):
        raise SigV4Error(code, "the SignedHeaders must be lowercase.")
    return names


def parse_authorization_header(value: str) -> SigV4Credential:
    """Parse ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    code = "AuthorizationHeaderMalformed"
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SigV4Error("InvalidArgument", "Unsupported Authorization Type")
    fields: dict[str, str] = {}
    # Clients differ in whether they put ", " or "," (or only spaces) between the fields.
    for item in _FIELD_SEPARATOR.split(rest.strip()):
        if not item:
            continue
        name, eq, field_value = item.partition("=")
        if not eq or name in fields:
            raise SigV4Error(code, f"the authorization header is malformed near {item!r}.")
        fields[name] = field_value
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise SigV4Error(
            code,
            "the authorization header requires three components: "
            "Credential, SignedHeaders, and Signature.",
        )
    access_key_id, date, region, service = _parse_credential(fields["Credential"], code)
    signature = fields["Signature"]
    if not signature:
        raise SigV4Error(code, "the Signature is empty.")
    return SigV4Credential(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(fields["SignedHeaders"], code),
        signature=signature,
    )


_PRESIGNED_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


def is_presigned(query: QueryPairs) -> bool:
    """Whether the query carries SigV4 query-string authentication."""
    return any(name in ("X-Amz-Algorithm", "X-Amz-Credential") for name, _ in query)


def parse_presigned_query(query: QueryPairs) -> SigV4Credential:
    """Parse the ``X-Amz-*`` parameters of a presigned URL."""
    code = "AuthorizationQueryParametersError"
    found: dict[str, str] = {}
    for name, value in query:
        if name in _PRESIGNED_PARAMS:
            if name in found:
                raise SigV4Error(code, f"{name} appears more than once.")
            found[name] = value or ""
    if any(not found.get(name) for name in _PRESIGNED_PARAMS):
        raise SigV4Error(
            code,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
        )
    if found["X-Amz-Algorithm"] != ALGORITHM:
        raise SigV4Error(code, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    amz_date = found["X-Amz-Date"]
    if not _AMZ_DATE.fullmatch(amz_date):
        raise SigV4Error(
            code, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    raw_expires = found["X-Amz-Expires"]
    if not _INTEGER.fullmatch(raw_expires):
        raise SigV4Error(code, "X-Amz-Expires should be a number")
    expires = int(raw_expires)
    # S3 compat: AWS's words. Zero is a valid value; such a URL has expired when it is used.
    if expires < 0:
        raise SigV4Error(code, "X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGNED_EXPIRES:
        raise SigV4Error(
            code,
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            f"X-Amz-Expires must be less than {MAX_PRESIGNED_EXPIRES} seconds",
        )
    access_key_id, date, region, service = _parse_credential(found["X-Amz-Credential"], code)
    if date != amz_date[:8]:
        raise SigV4Error(code, "Invalid credential date. Date is not the same as X-Amz-Date.")
    return SigV4Credential(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(found["X-Amz-SignedHeaders"], code),
        signature=found["X-Amz-Signature"],
        amz_date=amz_date,
        expires=expires,
    )


def request_amz_date(x_amz_date: str | None, date: str | None) -> str:
    """The request's timestamp as ``YYYYMMDDTHHMMSSZ``: x-amz-date, else the Date header.

    Raises ``SigV4Error("AccessDenied", ...)`` when neither is present and parseable.
    """
    if x_amz_date is not None:
        value = x_amz_date.strip()
        if _AMZ_DATE.fullmatch(value):
            return value
        parsed = _parse_http_date(value)
    elif date is not None:
        parsed = _parse_http_date(date.strip())
    else:
        parsed = None
    if parsed is None:
        raise SigV4Error(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
        )
    return parsed.strftime("%Y%m%dT%H%M%SZ")


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        # RFC 5322's "-0000" means "UTC, source unknown"; Python leaves it naive.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_amz_date(amz_date: str) -> datetime:
    """``YYYYMMDDTHHMMSSZ`` as an aware UTC datetime (ValueError if malformed)."""
    if not _AMZ_DATE.fullmatch(amz_date):
        raise ValueError(f"not an ISO 8601 basic timestamp: {amz_date!r}")
    return datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def parse_query(raw_query: str | bytes) -> list[tuple[str, str | None]]:
    """Split a raw query string into percent-decoded pairs, keeping ``+`` as a plus.

    Invalid UTF-8 survives as surrogate escapes, so re-encoding gives back the same bytes.
    """
    if isinstance(raw_query, str):
        raw_query = raw_query.encode("utf-8", "surrogateescape")
    pairs: list[tuple[str, str | None]] = []
    for item in raw_query.split(b"&"):
        if not item:
            continue
        name, eq, value = item.partition(b"=")
        pairs.append(
            (
                unquote_to_bytes(name).decode("utf-8", "surrogateescape"),
                unquote_to_bytes(value).decode("utf-8", "surrogateescape") if eq else None,
            )
        )
    return pairs


# ------------------------------------------------------------------- canonical request


def uri_encode(value: str | bytes) -> str:
    """AWS's URI encoding: unreserved characters stay, every other byte becomes ``%XX``."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    return quote(value, safe=_UNRESERVED)


def canonical_uri(raw_path: str | bytes) -> str:
    """The canonical path of an S3 request, from the path exactly as it came off the wire.

    S3 neither normalises ``.``/``..`` nor double-encodes; each segment is decoded once and
    encoded again, so ``%2F`` inside a key stays ``%2F`` and ``/`` between segments stays.
    Pass bytes when you have them: raw non-ASCII bytes then survive unchanged.
    """
    if isinstance(raw_path, str):
        if _PLAIN_PATH.fullmatch(raw_path):
            return raw_path  # nothing to decode nor encode: the common case, kept cheap
        raw_path = raw_path.encode("utf-8", "surrogateescape")
    if not raw_path:
        return "/"
    return "/".join(uri_encode(unquote_to_bytes(segment)) for segment in raw_path.split(b"/"))


def canonical_query_string(query: QueryPairs, *, exclude_signature: bool = False) -> str:
    """Every parameter encoded, sorted by encoded name then value; X-Amz-Signature if asked."""
    encoded = sorted(
        (uri_encode(name), uri_encode(value or ""))
        for name, value in query
        if not (exclude_signature and name == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_header_value(values: Sequence[str]) -> str:
    """Each value trimmed with inner whitespace runs collapsed, then joined with commas."""
    parts = []
    for value in values:
        if value.isascii():
            # The fast path; botocore collapses exactly what str.split() splits on.
            parts.append(" ".join(value.split()))
        else:
            # Only ASCII whitespace counts: U+00A0 and friends are data, not spacing.
            parts.append(_HEADER_SPACE.sub(" ", value).strip(" "))
    return ",".join(parts)


def decode_header_value(raw: bytes) -> str:
    """A header value off the wire, decoded the way its signer most likely saw it.

    UTF-8 when the bytes are valid UTF-8 (curl and the SDKs that send bytes as signed),
    else Latin-1: botocore signs ``str`` values as UTF-8 but http.client sends them as
    Latin-1, so decoding that way and re-encoding as UTF-8 reproduces what it signed.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _lookup(headers: HeaderSource) -> Callable[[str], Sequence[str]]:
    if callable(headers):
        return headers
    empty: Sequence[str] = ()
    return lambda name: headers.get(name, empty)


def canonical_headers(headers: HeaderSource, signed_headers: Sequence[str]) -> str:
    """One ``name:value\\n`` line per signed header, in the order the client listed them."""
    get = _lookup(headers)
    # A signed header the request lacks still gets a line with an empty value: the
    # client signed that, so the signature (not this function) decides.
    return "".join(f"{name}:{canonical_header_value(get(name))}\n" for name in signed_headers)


def _verbatim_query_string(raw_query: str | bytes, *, exclude_signature: bool) -> str:
    # botocore's pure-Python signer sorts the pairs of the URL's query as they are,
    # without decoding or re-encoding them.
    if isinstance(raw_query, bytes):
        raw_query = raw_query.decode("utf-8", "surrogateescape")
    pairs = sorted(
        (name, value)
        for name, _, value in (item.partition("=") for item in raw_query.split("&") if item)
        if not (exclude_signature and name == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def _assemble(
    method: str,
    path: str,
    query: str,
    headers: HeaderSource,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    return "\n".join(
        (
            method,
            path,
            query,
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )


def canonical_request(
    method: str,
    raw_path: str | bytes,
    query: QueryPairs | str | bytes,
    headers: HeaderSource,
    signed_headers: Sequence[str],
    payload_hash: str,
    *,
    exclude_signature: bool = False,
) -> str:
    """The SigV4 canonical request of an S3 request (``exclude_signature`` for presigned).

    ``query`` is either :func:`parse_query`'s pairs or the raw query string.
    """
    pairs = parse_query(query) if isinstance(query, str | bytes) else query
    return _assemble(
        method,
        canonical_uri(raw_path),
        canonical_query_string(pairs, exclude_signature=exclude_signature),
        headers,
        signed_headers,
        payload_hash,
    )


def canonical_request_variants(
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    headers: HeaderSource,
    signed_headers: Sequence[str],
    payload_hash: str,
    *,
    exclude_signature: bool = False,
) -> list[str]:
    """The canonical request, then the forms real clients sign when the URL is not canonical.

    A request whose path and query are already AWS-encoded (what every SDK sends) has one
    form. Otherwise the signer may have used the path as sent (botocore and the CRT both
    do, for S3) and maybe the query as sent too (botocore without the CRT); the signature
    matches one of these. All forms name the same resource, so accepting any is safe.
    """
    path = canonical_uri(raw_path)
    pairs = parse_query(raw_query)
    query = canonical_query_string(pairs, exclude_signature=exclude_signature)
    forms = [(path, query)]
    wire_path = (
        raw_path.decode("utf-8", "surrogateescape") if isinstance(raw_path, bytes) else raw_path
    )
    wire_path = wire_path or "/"
    wire_query = _verbatim_query_string(raw_query, exclude_signature=exclude_signature)
    for form in ((wire_path, query), (wire_path, wire_query)):
        if form not in forms:
            forms.append(form)
    return [
        _assemble(method, form_path, form_query, headers, signed_headers, payload_hash)
        for form_path, form_query in forms
    ]


# -------------------------------------------------------------------------- signing


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key: four chained HMACs over date, region, service, aws4_request."""
    key = _hmac(f"AWS4{secret}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


class SigningKeyCache:
    """Derived signing keys, so each (secret, date, region, service) costs four HMACs once."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._max_entries = max_entries
        self._keys: OrderedDict[tuple[str, str, str, str], bytes] = OrderedDict()
        self._lock = Lock()

    def key(self, secret: str, date: str, region: str, service: str) -> bytes:
        """The signing key for this scope, derived on first use."""
        cache_key = (secret, date, region, service)
        with self._lock:
            found = self._keys.get(cache_key)
            if found is not None:
                self._keys.move_to_end(cache_key)
                return found
        derived = derive_signing_key(secret, date, region, service)
        with self._lock:
            self._keys[cache_key] = derived
            while len(self._keys) > self._max_entries:
                self._keys.popitem(last=False)
        return derived

    def __len__(self) -> int:
        return len(self._keys)


def _sha256_hex(text: str) -> str:
    # surrogateescape gives back the exact wire bytes of headers that were not UTF-8.
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def string_to_sign(amz_date: str, scope: str, canonical_request_str: str) -> str:
    """The SigV4 string to sign for a request."""
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{_sha256_hex(canonical_request_str)}"


def signature(signing_key: bytes, string_to_sign_str: str) -> str:
    """The hex HMAC-SHA256 of a string to sign."""
    return hmac.new(
        signing_key, string_to_sign_str.encode("utf-8", "surrogateescape"), hashlib.sha256
    ).hexdigest()


def verify(expected_hex: str, actual_hex: str) -> bool:
    """Constant-time comparison of the signature we computed with the one the client sent."""
    return hmac.compare_digest(
        expected_hex.encode("utf-8", "surrogateescape"),
        actual_hex.lower().encode("utf-8", "surrogateescape"),
    )


def chunk_string_to_sign(
    amz_date: str, scope: str, previous_signature: str, chunk_sha256_hex: str
) -> str:
    """The string to sign for one chunk of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body."""
    return (
        f"{CHUNK_ALGORITHM}\n{amz_date}\n{scope}\n{previous_signature}\n"
        f"{EMPTY_SHA256}\n{chunk_sha256_hex}"
    )


def trailer_string_to_sign(
    amz_date: str, scope: str, previous_signature: str, trailer_bytes_sha256_hex: str
) -> str:
    """The string to sign for the trailing headers of a ``...-PAYLOAD-TRAILER`` body."""
    return (
        f"{TRAILER_ALGORITHM}\n{amz_date}\n{scope}\n{previous_signature}\n"
        f"{trailer_bytes_sha256_hex}"
    )


def canonical_trailers(trailers: Mapping[str, str]) -> bytes:
    """The bytes a trailer signature covers: ``name:value\\n`` per trailer, signature excluded."""
    return "".join(
        f"{name.lower()}:{value.strip()}\n"
        for name, value in trailers.items()
        if name.lower() != TRAILER_SIGNATURE_HEADER
    ).encode("utf-8", "surrogateescape")
