"""Who signed a request: SigV4 (header, query, streaming) and SigV2 (header, query).

Runs in a worker thread as the first step of every request (see ``S3Request.run``).
"""

from __future__ import annotations

import calendar
import functools
import time
from dataclasses import dataclass

from nexq.core.identity import ANONYMOUS, Principal
from nexq.storage.directory import S3_SCOPES, Credential, Directory
from nexq.storage.model import AccessKey
from nexq.storage.s3 import post_signature, sigv2, sigv4
from nexq.storage.s3.errors import S3Error, access_denied
from nexq.storage.s3.http import S3Request, parse_http_date

MAX_SKEW_SECONDS = 15 * 60
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


@dataclass(frozen=True, slots=True)
class PayloadCheck:
    """How the request body must be verified, as the signature declared it."""

    content_sha256: str | None  # hex digest to match, or None when unsigned
    streaming: str | None = None  # one of the STREAMING-* modes
    signing_key: bytes = b""
    scope: str = ""
    amz_date: str = ""
    seed_signature: str = ""


def _error_signature(
    key_id: str = "", provided: str = "", string_to_sign: str = "", canonical: str | None = None
) -> S3Error:
    """SignatureDoesNotMatch; with what the server signed, as AWS answers, so that whoever
    wrote a signer can see where theirs differs (all of it is derived from the request, so
    it tells the caller nothing it did not send: the secret is in none of it)."""
    extra: dict[str, str] = {}
    if key_id:
        extra = {
            "AWSAccessKeyId": key_id,
            "StringToSign": string_to_sign,
            "SignatureProvided": provided,
            "StringToSignBytes": _hex_bytes(string_to_sign),
        }
        if canonical is not None:
            extra["CanonicalRequest"] = canonical
            extra["CanonicalRequestBytes"] = _hex_bytes(canonical)
    return S3Error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        403,
        extra,
    )


def _hex_bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode("utf-8", "surrogateescape"))


@functools.lru_cache(maxsize=256)
def _amz_epoch(value: str) -> float:
    # By hand: time.strptime costs more than the rest of the signature check. Cached: the
    # requests of one second all carry the same date.
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        raise ValueError(value)
    fields = (value[0:4], value[4:6], value[6:8], value[9:11], value[11:13], value[13:15])
    year, month, day, hour, minute, second = (int(f) for f in fields)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError(value)
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def _parse_amz_date(value: str) -> float:
    try:
        return _amz_epoch(value)
    except ValueError:
        raise access_denied(
            "AWS authentication requires a valid Date or x-amz-date header"
        ) from None


class Authenticator:
    """Checks signatures against the keys in the :class:`Directory`."""

    def __init__(self, directory: Directory, region: str) -> None:
        self._directory = directory
        self.region = region
        self._regions = {region, "us-east-1", "auto"}
        self._keys = sigv4.SigningKeyCache()

    def authenticate(self, req: S3Request) -> Credential:
        """The credential that signed ``req``; raises the S3 error AWS would answer."""
        self._directory.refresh()
        if req.form is not None:
            return self._post_form(req.form)
        authorization = req.headers.get("authorization")
        if authorization is not None and authorization.strip():  # empty: as if absent (AWS)
            if authorization.startswith("AWS4-HMAC-SHA256"):
                return self._sigv4_header(req, authorization)
            if authorization.startswith("AWS "):
                return self._sigv2(req, authorization[4:], req.headers.get("date"))
            raise S3Error(
                "InvalidArgument",
                "Unsupported Authorization Type",
                400,
                {"ArgumentName": "Authorization", "ArgumentValue": authorization[:64]},
            )
        if "X-Amz-Algorithm" in req.query or "X-Amz-Credential" in req.query:
            return self._sigv4_query(req)
        if sigv2.is_presigned(req.query_list):
            return self._sigv2_query(req)
        req.payload = PayloadCheck(None)
        return ANONYMOUS_CALLER  # reaches nothing that a bucket policy does not open

    # SigV4 ------------------------------------------------------------------------------
    def credential(self, key_id: str) -> Credential:
        """The active credential for ``key_id``; 403 when unknown, revoked or suspended."""
        found = self._directory.credential(key_id)
        if found is None:
            raise S3Error(
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                403,
            )
        if not found.key.active:
            raise access_denied("The access key has been revoked.")
        if not found.account.active:
            raise access_denied("The account is suspended.")
        return found

    def _check_scope(self, cred: sigv4.SigV4Credential) -> None:
        if cred.region not in self._regions:
            raise S3Error(
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; the region '{cred.region}' is wrong; "
                f"expecting '{self.region}'",
                400,
                {"Region": self.region},
            )
        if cred.service != "s3":
            raise S3Error(
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; incorrect service '{cred.service}'. "
                "This endpoint belongs to 's3'.",
                400,
            )

    def _sign(
        self,
        req: S3Request,
        found: Credential,
        cred: sigv4.SigV4Credential,
        amz_date: str,
        payload_hash: str,
        presigned: bool,
    ) -> tuple[bytes, str]:
        for name in cred.signed_headers:
            if name not in req.headers and name != "host":
                raise access_denied(f"Signed header {name} is missing from the request.")
        headers = req.headers

        def values(name: str) -> list[str]:
            value = headers.get(name)
            return [] if value is None else [signed_form(value)]

        forms = sigv4.canonical_request_variants(
            req.method,
            req.raw_path,
            req.raw_query,
            values,
            cred.signed_headers,
            payload_hash,
            exclude_signature=presigned,
        )
        scope = f"{cred.date}/{cred.region}/{cred.service}/aws4_request"
        key = self._keys.key(found.secret, cred.date, cred.region, cred.service)
        tried: list[tuple[str, str]] = []
        for canonical in forms:
            to_sign = sigv4.string_to_sign(amz_date, scope, canonical)
            if sigv4.verify(sigv4.signature(key, to_sign), cred.signature):
                return key, scope
            tried.append((canonical, to_sign))
        canonical, to_sign = tried[0]  # the canonical form, AWS's (the others: client quirks)
        raise _error_signature(cred.access_key_id, cred.signature, to_sign, canonical)

    def _sigv4_header(self, req: S3Request, authorization: str) -> Credential:
        try:
            cred = sigv4.parse_authorization_header(authorization)
        except sigv4.SigV4Error as exc:
            raise S3Error(exc.code, exc.message, 400) from None
        self._check_scope(cred)
        found = self.credential(cred.access_key_id)
        amz_date = req.headers.get("x-amz-date")
        if amz_date:
            signed_at = _parse_amz_date(amz_date)
        else:
            parsed = parse_http_date(req.headers.get("date"))
            if parsed is None:
                raise access_denied("AWS authentication requires a valid Date or x-amz-date header")
            signed_at = parsed
            amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(signed_at))
        _check_skew(signed_at)
        if amz_date[:8] != cred.date:
            raise _error_signature()
        payload = req.headers.get("x-amz-content-sha256")
        if payload is None:
            raise S3Error(
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
                400,
            )
        key, scope = self._sign(req, found, cred, amz_date, payload, presigned=False)
        if payload.startswith("STREAMING-"):
            if payload not in (
                STREAMING_SIGNED,
                STREAMING_SIGNED_TRAILER,
                STREAMING_UNSIGNED_TRAILER,
            ):
                raise S3Error(
                    "InvalidArgument", f"Unsupported x-amz-content-sha256: {payload}", 400
                )
            req.payload = PayloadCheck(None, payload, key, scope, amz_date, cred.signature)
        elif payload == UNSIGNED:
            req.payload = PayloadCheck(None)
        else:
            if len(payload) != 64:
                raise S3Error(
                    "InvalidArgument",
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                    "STREAMING-... or a valid sha256 value.",
                    400,
                )
            req.payload = PayloadCheck(payload.lower())
        return found

    def _sigv4_query(self, req: S3Request) -> Credential:
        try:
            cred = sigv4.parse_presigned_query(req.query_list)
        except sigv4.SigV4Error as exc:
            raise _refused(exc.code, exc.message) from None
        self._check_scope(cred)
        found = self.credential(cred.access_key_id)
        amz_date = cred.amz_date or ""
        signed_at = _parse_amz_date(amz_date)
        now = time.time()
        if signed_at - now > MAX_SKEW_SECONDS:
            raise S3Error(
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large.",
                403,
            )
        expires_at = signed_at + (cred.expires or 0)
        if now > expires_at:
            raise _expired(expires_at, now, {"X-Amz-Expires": str(cred.expires)})
        # S3 compat: a presigned URL's signature covers the x-amz-* headers it names and no
        # other; whoever holds the URL may not add one (a legal hold, a COMPLIANCE lock, a
        # public ACL, metadata...), which AWS refuses by name. Told once the signature holds
        # (a tampered URL is SignatureDoesNotMatch whatever it carries), of the headers as
        # sent (not those the query stands for, which the signature covers).
        unsigned = sorted(
            name
            for name in req.headers
            if name.startswith("x-amz-")
            and name not in cred.signed_headers
            and name != "x-amz-content-sha256"
        )
        _headers_from_query(req)
        payload = req.query.get("X-Amz-Content-Sha256") or req.headers.get(
            "x-amz-content-sha256", UNSIGNED
        )
        self._sign(req, found, cred, amz_date, payload, presigned=True)
        if unsigned:
            raise S3Error(
                "AccessDenied",
                "There were headers present in the request which were not signed",
                403,
                {"HeadersNotSigned": ", ".join(unsigned)},
            )
        req.payload = PayloadCheck(None if payload == UNSIGNED or len(payload) != 64 else payload)
        return found

    # PostObject -------------------------------------------------------------------------
    def _post_form(self, fields: dict[str, str]) -> Credential:
        """The credential that signed a browser form's policy (SigV4 or SigV2 form fields),
        or the anonymous caller for a form that carries no signature."""
        lower = {k.lower(): v for k, v in fields.items()}
        version = post_signature.signature_version(lower)
        if version == "anonymous":
            return ANONYMOUS_CALLER
        policy = lower["policy"]
        if version == "v4":
            if lower["x-amz-algorithm"] != sigv4.ALGORITHM:
                raise S3Error(
                    "InvalidArgument",
                    'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
                    400,
                    {"ArgumentName": "X-Amz-Algorithm", "ArgumentValue": lower["x-amz-algorithm"]},
                )
            credential = lower["x-amz-credential"]
            parts = credential.split("/")
            if len(parts) != 5 or parts[4] != "aws4_request":
                raise S3Error(
                    "InvalidArgument",
                    "Invalid x-amz-credential form field.",
                    400,
                    {"ArgumentName": "X-Amz-Credential", "ArgumentValue": credential},
                )
            key_id, date, region, service, _ = parts
            if region not in self._regions:
                raise post_signature.wrong_region(credential, region, self.region)
            self._check_scope(sigv4.SigV4Credential(key_id, date, region, service, (), ""))
            found = self.credential(key_id)
            key = self._keys.key(found.secret, date, region, service)
            if not sigv4.verify(sigv4.signature(key, policy), lower["x-amz-signature"]):
                raise post_signature.signature_mismatch(key_id, policy, lower["x-amz-signature"])
            return found
        found = self.credential(lower["awsaccesskeyid"])
        if not sigv2.verify(sigv2.sign(found.secret, policy), lower["signature"]):
            raise post_signature.signature_mismatch(
                lower["awsaccesskeyid"], policy, lower["signature"]
            )
        return found

    # SigV2 ------------------------------------------------------------------------------
    def _sigv2(self, req: S3Request, value: str, date: str | None) -> Credential:
        try:
            given = sigv2.parse_authorization_header(f"AWS {value}")
        except sigv2.SigV2Error as exc:
            raise S3Error(exc.code, exc.message, 400) from None
        found = self.credential(given.access_key_id.strip())
        # x-amz-date stands in for Date whenever it is there, even empty (then no date at
        # all); a date before 1970 is no valid date either (as AWS answers both).
        amz_date = req.headers.get("x-amz-date")
        signed_at = parse_http_date(amz_date if amz_date is not None else date)
        if signed_at is None or signed_at < 0:
            raise access_denied("AWS authentication requires a valid Date or x-amz-date header")
        _check_skew(signed_at)
        self._check_v2(req, found, given.signature, sigv2.date_line(date, amz_date))
        req.payload = PayloadCheck(None)
        return found

    def _sigv2_query(self, req: S3Request) -> Credential:
        try:
            given = sigv2.parse_presigned_query(req.query_list)
        except sigv2.SigV2Error as exc:
            raise _refused(exc.code, exc.message) from None
        found = self.credential(given.access_key_id)
        expires, now = given.expires or 0, time.time()
        if now > expires:
            raise _expired(expires, now)
        self._check_v2(req, found, given.signature, str(expires))
        _headers_from_query(req)
        req.payload = PayloadCheck(None)
        return found

    def _check_v2(self, req: S3Request, found: Credential, signature: str, date: str) -> None:
        # Presigned V2 URLs carry the x-amz-* headers in the query string.
        pairs = [(k, signed_form(v)) for k, v in req.headers.items() if k.startswith("x-amz-")]
        pairs += [(k, v or "") for k, v in req.query_list if k.lower().startswith("x-amz-")]
        amz = sigv2.canonical_amz_headers(pairs)
        path = req.raw_path
        virtual = req.bucket if req.bucket and not path.startswith(f"/{req.bucket}") else None
        paths = [path]
        if req.bucket and not req.key and not virtual:
            # S3 compat: botocore signs a bucket request as "/bucket/" whatever the path was;
            # rclone and older signers sign the path as sent ("/bucket").
            paths = [f"/{req.bucket}/", f"/{req.bucket}"]
        tried = []
        for candidate in paths:
            resource = sigv2.canonical_resource(virtual, candidate, req.query_list)
            to_sign = sigv2.string_to_sign(
                req.method,
                req.headers.get("content-md5", ""),
                req.headers.get("content-type", ""),
                date,
                amz,
                resource,
            )
            if sigv2.verify(sigv2.sign(found.secret, to_sign), signature):
                return
            tried.append(to_sign)
        raise _error_signature(found.key.id, signature, tried[0])


ANONYMOUS_CALLER = Credential(
    key=AccessKey("", "", "anonymous", "active", 0.0, frozenset()),
    secret="",
    account=ANONYMOUS,
    principal=Principal(ANONYMOUS, S3_SCOPES, reaches=frozenset()),
)


# The query parameters of a SigV4 presigned URL that are its signature, not headers.
_PRESIGNING = frozenset(
    {
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-signedheaders",
        "x-amz-signature",
        "x-amz-security-token",
        "x-amz-content-sha256",
    }
)


def _headers_from_query(req: S3Request) -> None:
    """S3 compat: a presigned URL may carry x-amz-* headers in its query string (SigV2 URLs
    do; the SDKs' SigV4 presigners hoist metadata, ACL, encryption and tagging there), and
    its signature covers them: the request is read as if they were sent as headers. A header
    sent as well keeps its value (it was signed as a header)."""
    for name, value in req.query_list:
        lower = name.lower()
        if value is not None and lower.startswith("x-amz-") and lower not in _PRESIGNING:
            req.headers.setdefault(lower, value)


def _refused(code: str, message: str) -> S3Error:
    """A presigned URL's parameters refused: AccessDenied is 403, a malformed one 400."""
    return S3Error(code, message, 403 if code == "AccessDenied" else 400)


def _expired(expires_at: float, now: float, named: dict[str, str] | None = None) -> S3Error:
    """S3 compat: AWS names a presigned URL's expiry, the moment it passed and its clock."""
    times = {"Expires": _iso_second(expires_at), "ServerTime": _iso_second(now)}
    return S3Error("AccessDenied", "Request has expired", 403, {**(named or {}), **times})


def _iso_second(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _check_skew(signed_at: float) -> None:
    if abs(time.time() - signed_at) > MAX_SKEW_SECONDS:
        raise S3Error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            403,
        )


def signed_form(value: str) -> str:
    """A header value as its signer hashed it: the very bytes it sent. Headers arrive here as
    ISO-8859-1 characters, one per byte; read as UTF-8 (undecodable bytes kept as surrogate
    escapes), the canonical request's UTF-8 gives those bytes back unchanged."""
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "surrogateescape")
