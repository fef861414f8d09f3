"""A seeded generator of hostile S3 requests: methods, paths, queries, headers, XML, aws-chunked.

Each input is one raw HTTP/1.1 request, built byte by byte so that nothing a client library
would refuse (NUL bytes, invalid UTF-8, duplicated or malformed headers, broken framing) is
out of reach. About two thirds are signed with the test key after mutation (SigV4 computed
by hand, see ``harness.SignParts``), so they get past authentication and into the handlers;
the rest are anonymous or carry mangled signatures.

The same seed gives the same sequence of inputs, so any finding is reproduced by its index.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass, field

from tests.live import Key
from tests.reliability.harness import (
    EMPTY_SHA256,
    UNSIGNED,
    SignParts,
    amz_now,
    build,
    derived_key,
)

BUCKET = "fuzz"
SENTINEL = b"NEXQ-FUZZ-SENTINEL-OUTSIDE-THE-DATA-DIR"

METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"]
ODD_METHODS = [
    "OPTIONS",
    "PATCH",
    "TRACE",
    "CONNECT",
    "PROPFIND",
    "get",
    "Put",
    "G\tET",
    "GET\x00",
    "\xff\xfe",
    "X" * 300,
    "",
]
KEYS = [
    "k",
    "dir/sub/key.txt",
    "..",
    "../..",
    "../../etc/passwd",
    "..%2F..%2Fsentinel.txt",
    "%2e%2e/%2e%2e/sentinel.txt",
    "%2e%2e%2f%2e%2e%2fsentinel.txt",
    "..\\..\\windows",
    "./.",
    "/leading",
    "a//b",
    "%00",
    "nul%00byte",
    "%ff%fe%fd",
    "%c3%28",
    "%ed%a0%80",
    "%f4%90%80%80",
    "caf%C3%A9",
    "%E2%80%AE",
    "space%20and+plus",
    "%25%25",
    "%",
    "%zz",
    "?",
    "#frag",
    "k" * 1024,
    "k" * 1025,
    "x" * 10_000,
    "tab%09newline%0A",
    "%0D%0AInjected:%20yes",
    "emoji-%F0%9F%98%80",
]
BUCKETS = [
    BUCKET,
    "FUZZ",
    "fu",
    "a" * 64,
    "192.168.0.1",
    "-fuzz",
    "fuzz-",
    "no-such-bucket",
    "..",
    "%2e%2e",
    "%00",
    "%ff",
    "other-accounts-bucket",
    "xn--fuzz",
    "fuzz..x",
]
SUBRESOURCES = [
    "uploads",
    "uploadId",
    "partNumber",
    "list-type",
    "location",
    "versioning",
    "acl",
    "delete",
    "tagging",
    "policy",
    "cors",
    "website",
    "select",
    "restore",
    "versions",
    "torrent",
]
PARAMS = [
    "max-keys",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "continuation-token",
    "start-after",
    "marker",
    "prefix",
    "delimiter",
    "encoding-type",
    "fetch-owner",
    "key-marker",
    "upload-id-marker",
    "response-content-type",
    "response-content-disposition",
    "response-expires",
    "versionId",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
]
VALUES = [
    "",
    "0",
    "1",
    "-1",
    "2147483648",
    "99999999999999999999999999",
    "1e3",
    "0x10",
    " 5",
    "NaN",
    "url",
    "/",
    "%00",
    "%ff",
    "%c3",
    "a" * 2000,
    "AWS4-HMAC-SHA256",
    "NQAKaaaaaaaaaaaaaaaa/20200101/us-east-1/s3/aws4_request",
    "20200101T000000Z",
    "604801",
    "host",
    "deadbeef",
    "%2e%2e%2f",
    "..",
    "true",
    "dGVzdA==",
    "////",
]
BAD_DATES = [
    "",
    "yesterday",
    "Mon, 32 Jan 2024 25:61:61 GMT",
    "Mon, 01 Jan 99999 00:00:00 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "0",
    "-1",
    "2024-01-01T00:00:00Z",
    "\x00",
    "Mon, 01 Jan 0000 00:00:00 GMT",
    "Tue, 29 Feb 2023 00:00:00 GMT",
    "Mon,, 01 Jan 2024",
    "a" * 500,
]
BAD_RANGES = [
    "bytes=0-0",
    "bytes=-0",
    "bytes=0-",
    "bytes=5-1",
    "bytes=-",
    "bytes=",
    "bytes=0-1,2-3",
    "bytes=99999999999999999999999-",
    "bytes=-99999999999999999999999",
    "bytes=0-99999999999999999999999",
    "items=0-1",
    "bytes=a-b",
    "bytes=-1-2",
    "bytes = 0-1",
    "bytes=1-0x10",
    "bytes=\x00-1",
    "bytes=" + "9" * 5000,
]
HEADER_NAMES = [
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "content-md5",
    "content-type",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-date",
    "date",
    "x-amz-copy-source",
    "x-amz-copy-source-range",
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-modified-since",
    "x-amz-metadata-directive",
    "x-amz-acl",
    "x-amz-grant-read",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-checksum-algorithm",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-checksum-mode",
    "x-amz-checksum-type",
    "x-amz-trailer",
    "x-amz-decoded-content-length",
    "x-amz-meta-a",
    "x-amz-meta-",
    "x-amz-storage-class",
    "x-amz-server-side-encryption",
    "x-amz-tagging",
    "x-amz-expected-bucket-owner",
    "expect",
    "authorization",
    "x-amz-security-token",
]
HEADER_VALUES = [
    "",
    "*",
    '"etag"',
    "\x7f\x80\xff",
    "CRC32",
    "crc32c",
    "SHA256",
    "MD5",
    "COMPOSITE",
    "FULL_OBJECT",
    "ENABLED",
    "COPY",
    "REPLACE",
    "private",
    "public-read",
    "fuzz/k",
    "/fuzz/k",
    "fuzz",
    "/",
    "../../etc/passwd",
    "fuzz/%ff",
    "other-accounts-bucket/secret",
    "fuzz/k?versionId=1",
    "100-continue",
    "AAAAAA==",
    "not base64!",
    "x-amz-checksum-crc32",
    "x-amz-checksum-nope",
    "-5",
    "18446744073709551616",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 Credential=",
    "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=zz",
    "AWS NQAKaaaaaaaaaaaaaaaa:sig",
    "Bearer x",
    "a" * 8000,
]

# XML bodies: valid shapes to mutate, and the classic attacks.
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b"]>\n<Delete><Object><Key>&lol9;</Key></Object></Delete>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    b"<Delete><Object><Key>&x;</Key></Object></Delete>"
)
PARAMETER_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]>'
    b"<Delete/>"
)
QUADRATIC_BLOWUP = (
    b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "'
    + b"a" * 50_000
    + b'">]>\n<Delete><Object><Key>'
    + b"&a;" * 20_000
    + b"</Key></Object></Delete>"
)
XML_TEMPLATES = [
    b"<Delete><Object><Key>k</Key></Object><Quiet>true</Quiet></Delete>",
    b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key></Object>'
    b"<Object><Key>../../etc/passwd</Key></Object></Delete>",
    b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part>'
    b"</CompleteMultipartUpload>",
    b"<CompleteMultipartUpload><Part><PartNumber>99999999999999999999</PartNumber>"
    b"<ETag>x</ETag><ChecksumCRC32>zz</ChecksumCRC32></Part></CompleteMultipartUpload>",
    b"<CreateBucketConfiguration><LocationConstraint>mars-1</LocationConstraint>"
    b"</CreateBucketConfiguration>",
    b"<AccessControlPolicy><Owner><ID>x</ID></Owner><AccessControlList><Grant><Grantee>"
    b"<ID>y</ID></Grantee><Permission>READ</Permission></Grant></AccessControlList>"
    b"</AccessControlPolicy>",
]


def nested(depth: int) -> bytes:
    return b"<Delete>" + b"<Object>" * depth + b"<Key>k</Key>" + b"</Object>" * depth + b"</Delete>"


XML_ATTACKS = [
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    PARAMETER_ENTITY,
    QUADRATIC_BLOWUP,
    nested(100_000),
    nested(1_000),
    b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>",
    b"<",
    b"\xff\xfe<\x00D\x00",
    b'<?xml version="1.0" encoding="UTF-7"?><Delete/>',
    b"<Delete><Object><Key>\x00</Key></Object></Delete>",
    b"<Delete><Object><Key>" + b"k" * 5000 + b"</Key></Object></Delete>",
    b"<Delete><Object></Object></Delete>",
    b"<Delete/>",
    b"<!-- " + b"-" * 10_000 + b" -->",
    b"<a:Delete xmlns:a='urn:x'><a:Object><a:Key>k</a:Key></a:Object></a:Delete>",
]


@dataclass
class Input:
    """One generated request."""

    index: int
    family: str
    signed: bool
    data: bytes
    note: str = ""
    want_timeout: float = 10.0
    extra: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        head = self.data[:600]
        return f"#{self.index} [{self.family}{' signed' if self.signed else ''}] {head!r}"


class Generator:
    """Makes hostile requests for one key, one host and one seed."""

    def __init__(self, seed: int, key: Key, host: str) -> None:
        self.rng = random.Random(seed)
        self.key = key
        self.host = host

    # ----------------------------------------------------------------- building blocks
    def pick_method(self) -> str:
        return (
            self.rng.choice(ODD_METHODS) if self.rng.random() < 0.08 else self.rng.choice(METHODS)
        )

    def pick_path(self) -> str:
        r = self.rng.random()
        if r < 0.05:
            return self.rng.choice(["/", "//", "*", "", "http://127.0.0.1/fuzz/k", "fuzz/k", "/?"])
        bucket = BUCKET if self.rng.random() < 0.75 else self.rng.choice(BUCKETS)
        if r < 0.2:
            return f"/{bucket}" + ("/" if self.rng.random() < 0.3 else "")
        key = self.rng.choice(KEYS)
        if self.rng.random() < 0.3:
            key = self.mutate_text(key)
        return f"/{bucket}/{key}"

    def mutate_text(self, text: str) -> str:
        pieces = ["%", "%2", "%2F", "%00", "..", "/", "%ff", "\\", ";", "%%", "?", "#", "%C0%AE"]
        for _ in range(self.rng.randint(1, 3)):
            pos = self.rng.randint(0, len(text))
            text = text[:pos] + self.rng.choice(pieces) + text[pos:]
        return text

    def pick_query(self) -> str:
        items = []
        if self.rng.random() < 0.5:
            word = self.rng.choice(SUBRESOURCES)
            items.append(word if self.rng.random() < 0.5 else f"{word}={self.rng.choice(VALUES)}")
        for _ in range(self.rng.choice([0, 0, 1, 2, 3])):
            name = self.rng.choice(PARAMS)
            items.append(name if self.rng.random() < 0.1 else f"{name}={self.rng.choice(VALUES)}")
        if self.rng.random() < 0.05:
            items.append("&&=&==&%ff=%fe")
        if self.rng.random() < 0.03:
            items.append("q=" + "v" * 9000)
        return "&".join(items)

    def pick_headers(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for _ in range(self.rng.choice([0, 1, 1, 2, 3, 5])):
            name = self.rng.choice(HEADER_NAMES)
            if name == "range":
                value = self.rng.choice(BAD_RANGES)
            elif "since" in name or name in ("date", "x-amz-date", "expires"):
                value = self.rng.choice(BAD_DATES)
            else:
                value = self.rng.choice(HEADER_VALUES)
            out.append((name, value))
            if self.rng.random() < 0.15:
                out.append((name, self.rng.choice(HEADER_VALUES)))  # duplicated header
        r = self.rng.random()
        if r < 0.03:
            out.append(("x-huge", "h" * 60_000))
        elif r < 0.06:
            out += [(f"x-amz-meta-m{i}", "v" * 40) for i in range(150)]
        elif r < 0.08:
            out.append(("bad header name", "x"))
        elif r < 0.10:
            out.append(("x-folded", "a\r\n continued"))
        return out

    def pick_body(self, method: str) -> bytes:
        r = self.rng.random()
        if method in ("GET", "HEAD", "DELETE") and r < 0.8:
            return b""
        if r < 0.3:
            return self.rng.randbytes(self.rng.choice([0, 1, 100, 5000, 70_000]))
        if r < 0.55:
            return self.rng.choice(XML_ATTACKS)
        template = self.rng.choice(XML_TEMPLATES)
        if r < 0.75:
            return template
        data = bytearray(template)
        for _ in range(self.rng.randint(1, 4)):
            pos = self.rng.randrange(len(data))
            op = self.rng.random()
            if op < 0.4:
                data[pos] = self.rng.randrange(256)
            elif op < 0.7:
                del data[pos : pos + self.rng.randint(1, 10)]
            else:
                data[pos:pos] = self.rng.choice([b"<", b"&", b"]]>", b"\x00", b"<Object>", b"&#0;"])
        return bytes(data)

    # ----------------------------------------------------------------------- requests
    def sign(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        payload_hash: str,
        signed_extra: dict[str, str] | None = None,
        amz_date: str | None = None,
    ) -> list[tuple[str, str]]:
        path, _, query = target.partition("?")
        parts = SignParts(
            method,
            path.encode("utf-8", "surrogateescape"),
            query.encode("utf-8", "surrogateescape"),
            payload_hash=payload_hash,
            amz_date=amz_date or amz_now(),
        )
        parts.headers = {
            "host": self.host,
            "x-amz-date": parts.amz_date,
            "x-amz-content-sha256": payload_hash,
            **(signed_extra or {}),
        }
        signed = [(k, v) for k, v in parts.headers.items() if k != "host"]
        auth = parts.authorization(self.key.access_key_id, self.key.secret_access_key)
        # Unsigned headers the generator picked go first, so a duplicate of a signed one
        # lands before it (the server joins duplicates; the signature then fails honestly).
        return [("Host", self.host), *headers, *signed, ("Authorization", auth)]

    def make(self, index: int) -> Input:
        r = self.rng.random()
        if r < 0.12:
            return self.chunked(index)
        if r < 0.20:
            return self.framing(index)
        method = self.pick_method()
        path = self.pick_path()
        query = self.pick_query()
        target = path + (f"?{query}" if query else "")
        headers = self.pick_headers()
        body = self.pick_body(method)
        signed = self.rng.random() < 0.68
        if signed:
            payload = (
                hashlib.sha256(body).hexdigest()
                if self.rng.random() < 0.6
                else self.rng.choice([UNSIGNED, UNSIGNED, EMPTY_SHA256, "zz", "STREAMING-NOPE"])
            )
            all_headers = self.sign(method, target, headers, payload)
            if self.rng.random() < 0.05:
                all_headers = [
                    (k, v[:-4] + "0000" if k == "Authorization" else v) for k, v in all_headers
                ]
        else:
            all_headers = [("Host", self.host), *headers]
        all_headers.append(("Connection", "close"))
        family = "xml" if body[:1] in (b"<", b"\xff") else "request"
        return Input(index, family, signed, build(method, target, all_headers, body))

    def chunked(self, index: int) -> Input:
        """A PUT with an aws-chunked body whose framing is (usually) broken."""
        mode = self.rng.choice(
            [
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            ]
        )
        signed_chunks = mode != "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        trailer = mode.endswith("TRAILER")
        data = [self.rng.randbytes(self.rng.choice([1, 100, 8192, 70_000])) for _ in range(3)]
        amz_date = amz_now()
        path = f"/{BUCKET}/chunked-{index}"
        decoded = sum(len(d) for d in data)
        extra = {
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(decoded),
        }
        if trailer:
            extra["x-amz-trailer"] = "x-amz-checksum-crc32"
        parts = SignParts("PUT", path.encode(), b"", payload_hash=mode, amz_date=amz_date)
        parts.headers = {
            "host": self.host,
            "x-amz-date": amz_date,
            "x-amz-content-sha256": mode,
            **extra,
        }
        seed = parts.signature(self.key.secret_access_key)
        key = derived_key(self.key.secret_access_key, amz_date[:8])
        scope = parts.scope()
        previous = seed
        body = b""
        for chunk in [*data, b""]:
            header = f"{len(chunk):x}".encode()
            if signed_chunks:
                to_sign = "\n".join(
                    [
                        "AWS4-HMAC-SHA256-PAYLOAD",
                        amz_date,
                        scope,
                        previous,
                        EMPTY_SHA256,
                        hashlib.sha256(chunk).hexdigest(),
                    ]
                )
                previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
                header += f";chunk-signature={previous}".encode()
            body += header + b"\r\n" + chunk + (b"\r\n" if chunk else b"")
        if trailer:
            body += b"x-amz-checksum-crc32:AAAAAA==\r\n"
            if signed_chunks:
                body += b"x-amz-trailer-signature:" + b"0" * 64 + b"\r\n"
        body += b"\r\n"
        mutation = self.rng.choice(
            [
                "none",
                "size-garbage",
                "size-huge",
                "size-negative",
                "drop-crlf",
                "bare-lf",
                "truncate",
                "extra-after-end",
                "no-final-chunk",
                "decoded-length-wrong",
                "bad-signature",
                "long-header-line",
                "trailer-garbage",
            ]
        )
        body = self.mutate_chunked(body, mutation)
        if mutation == "decoded-length-wrong":
            extra["x-amz-decoded-content-length"] = str(decoded + self.rng.choice([-1, 1, 10**9]))
            parts.headers["x-amz-decoded-content-length"] = extra["x-amz-decoded-content-length"]
            seed = parts.signature(self.key.secret_access_key)
        auth = (
            f"AWS4-HMAC-SHA256 Credential={self.key.access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(sorted(parts.headers))}, Signature={seed}"
        )
        headers = [
            ("Host", self.host),
            *((k, v) for k, v in parts.headers.items() if k != "host"),
            ("Authorization", auth),
            ("Connection", "close"),
        ]
        return Input(index, f"aws-chunked:{mutation}", True, build("PUT", path, headers, body))

    def mutate_chunked(self, body: bytes, mutation: str) -> bytes:
        first_line = body.index(b"\r\n")
        if mutation == "size-garbage":
            return b"zz" + body[body.index(b";") if b";" in body[:first_line] else first_line :]
        if mutation == "size-huge":
            return b"ffffffffffffffff" + body[body.find(b";", 0, first_line) % (first_line + 1) :]
        if mutation == "size-negative":
            return b"-1" + body[first_line:]
        if mutation == "drop-crlf":
            pos = body.find(b"\r\n", first_line + 2)
            return body[:pos] + body[pos + 2 :]
        if mutation == "bare-lf":
            return body.replace(b"\r\n", b"\n", 1)
        if mutation == "truncate":
            return body[: self.rng.randrange(1, len(body))]
        if mutation == "extra-after-end":
            return body + b"garbage after the end"
        if mutation == "no-final-chunk":
            return body[: body.rfind(b"0;") if b"0;" in body else len(body) // 2]
        if mutation == "bad-signature":
            return body.replace(b"chunk-signature=", b"chunk-signature=\xff", 1)
        if mutation == "long-header-line":
            return body[:first_line] + b";x=" + b"a" * 10_000 + body[first_line:]
        if mutation == "trailer-garbage":
            return body[:-2] + b":no-name\r\nx-amz-checksum-crc32:dup\r\n\r\n"
        return body

    def framing(self, index: int) -> Input:
        """HTTP framing itself: Content-Length and Transfer-Encoding lies, broken heads."""
        path = f"/{BUCKET}/framing-{index}"
        choice = self.rng.choice(
            [
                "cl-negative",
                "cl-garbage",
                "cl-duplicate-different",
                "cl-and-chunked",
                "chunked-bad",
                "chunked-bad-bucket",
                "chunked-bad-form",
                "chunked-good",
                "no-host",
                "http10",
                "request-line-garbage",
                "header-no-colon",
                "nul-in-header",
                "cl-longer-than-huge",
                "lf-only",
                "absolute-form",
                "pipelined",
                "many-headers",
            ]
        )
        body = b"hello body"
        signed = self.sign("PUT", path, [], UNSIGNED)
        head = [(k, v) for k, v in signed]
        if choice == "cl-negative":
            data = build("PUT", path, [*head, ("Content-Length", "-5")], body, False)
        elif choice == "cl-garbage":
            data = build("PUT", path, [*head, ("Content-Length", "ten")], body, False)
        elif choice == "cl-duplicate-different":
            data = build(
                "PUT", path, [*head, ("Content-Length", "10"), ("Content-Length", "3")], body, False
            )
        elif choice == "cl-and-chunked":
            chunked = b"a\r\nhello body\r\n0\r\n\r\n"
            data = build(
                "PUT",
                path,
                [*head, ("Content-Length", "3"), ("Transfer-Encoding", "chunked")],
                chunked,
                False,
            )
        elif choice == "chunked-bad":
            data = build(
                "PUT", path, [*head, ("Transfer-Encoding", "chunked")], b"zz\r\nabc\r\n0\r\n", False
            )
        elif choice == "chunked-bad-bucket":
            # Handlers that read their body whatever its length: CreateBucket.
            target = f"/fuzz-new-{index}"
            data = build(
                "PUT",
                target,
                [*self.sign("PUT", target, [], UNSIGNED), ("Transfer-Encoding", "chunked")],
                b"5\r\nhello\r\n" + self.rng.choice([b"zz\r\n", b"-5\r\n", b"5\r\nabcdefg\r\n"]),
                False,
            )
        elif choice == "chunked-bad-form":
            # ... and PostObject, which streams a form of any length.
            data = build(
                "POST",
                f"/{BUCKET}",
                [
                    ("Host", self.host),
                    ("Content-Type", "multipart/form-data; boundary=b"),
                    ("Transfer-Encoding", "chunked"),
                ],
                b"a\r\n--b\r\nConte\r\nzz\r\n",
                False,
            )
        elif choice == "chunked-good":
            data = build(
                "PUT",
                path,
                [*head, ("Transfer-Encoding", "chunked")],
                b"5\r\nhello\r\n0\r\n\r\n",
                False,
            )
        elif choice == "no-host":
            data = build("GET", f"/{BUCKET}", [("Connection", "close")])
        elif choice == "http10":
            data = f"GET /{BUCKET} HTTP/1.0\r\n\r\n".encode()
        elif choice == "request-line-garbage":
            data = self.rng.randbytes(self.rng.randint(1, 200)) + b"\r\n\r\n"
        elif choice == "header-no-colon":
            data = f"GET /{BUCKET} HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n".encode()
        elif choice == "nul-in-header":
            data = f"GET /{BUCKET} HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n".encode()
        elif choice == "cl-longer-than-huge":
            data = build("PUT", path, [*head, ("Content-Length", "9" * 30)], body, False)
        elif choice == "lf-only":
            data = f"GET /{BUCKET} HTTP/1.1\nHost: x\nConnection: close\n\n".encode()
        elif choice == "absolute-form":
            data = build("GET", f"http://{self.host}/{BUCKET}", [*head, ("Connection", "close")])
        elif choice == "pipelined":
            one = build("GET", f"/{BUCKET}", self.sign("GET", f"/{BUCKET}", [], UNSIGNED))
            data = one * 3 + b"GARBAGE\r\n\r\n"
        else:
            data = build(
                "GET",
                f"/{BUCKET}",
                [*self.sign("GET", f"/{BUCKET}", [], UNSIGNED)]
                + [(f"x-h{i}", "v") for i in range(2000)],
            )
        unsigned = ("no-host", "http10", "request-line-garbage", "header-no-colon", "nul-in-header")
        signed = choice not in (*unsigned, "lf-only", "chunked-bad-form")
        return Input(index, f"framing:{choice}", signed, data)
