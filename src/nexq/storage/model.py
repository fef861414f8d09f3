"""Object Storage's types and rules: pure, no I/O."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from nexq.core.identity import Principal
from nexq.storage.errors import InvalidArgument, InvalidBucketName, KeyTooLong, MetadataTooLarge

MAX_KEY_BYTES = 1024
MAX_USER_METADATA_BYTES = 2048
MAX_PUT_BYTES = 5 * 1024**3
MAX_OBJECT_BYTES = 5 * 1024**4
MIN_PART_BYTES = 5 * 1024**2
MAX_PART_NUMBER = 10_000
ACCESS_KEY_PREFIX = "NQAK"

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ACCESS_KEY_ID = re.compile(r"^NQAK[a-z0-9]{16}$")

# Content headers stored with an object and returned on GET/HEAD.
CONTENT_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    # Where the bucket's website endpoint redirects a request for the object (docs/website.md).
    "x-amz-website-redirect-location",
)
CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


def validate_bucket_name(name: str) -> None:
    """Raise :class:`InvalidBucketName` unless ``name`` follows S3's bucket naming rules."""
    if not _BUCKET_NAME.match(name):
        raise InvalidBucketName(
            "Bucket names are 3-63 characters of lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit."
        )
    if ".." in name or ".-" in name or "-." in name:
        raise InvalidBucketName("Bucket names must not contain '..', '.-' or '-.'.")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        raise InvalidBucketName("Bucket names must not be formatted as an IP address.")
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        raise InvalidBucketName("Bucket names must not use a reserved prefix or suffix.")


# S3 compat: AWS reserves these for access points, Multi-Region Access Points, directory and
# table buckets, and its documentation's examples; CreateBucket refuses them.
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_key(key: str) -> None:
    """Raise unless ``key`` is a usable object key: one an S3 tool can address (an empty key
    would be the bucket's URL, and NUL is refused in every S3 URI), of at most 1,024 bytes."""
    if not key:
        raise InvalidArgument("The object needs a name: its key is empty.")
    if "\x00" in key:
        raise InvalidArgument("Object keys cannot contain the NUL character (U+0000).")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise KeyTooLong(f"Your key is too long: object keys are at most {MAX_KEY_BYTES} bytes.")


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def has_control_characters(value: str) -> bool:
    """Whether ``value`` holds characters no HTTP header value may carry (tab is allowed)."""
    return _CONTROL.search(value) is not None


def validate_user_metadata(metadata: dict[str, str]) -> None:
    """Raise unless the user metadata fits S3's 2 KiB limit and its names can be sent back as
    headers (any value can: S3 returns one with controls or non-ASCII RFC 2047-encoded)."""
    for name in metadata:
        if has_control_characters(name):
            raise InvalidArgument(
                f"The metadata x-amz-meta-{name.encode('unicode_escape').decode()} contains "
                "control characters, which no HTTP header can carry."
            )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    if size > MAX_USER_METADATA_BYTES:
        raise MetadataTooLarge(
            f"Your metadata headers exceed the maximum allowed metadata size "
            f"({size} > {MAX_USER_METADATA_BYTES} bytes)."
        )


def is_access_key_id(value: str) -> bool:
    """Whether ``value`` has the shape of a Nexq access key id."""
    return bool(_ACCESS_KEY_ID.match(value))


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket; its ``id`` (not its name) is what grants refer to."""

    id: str
    name: str
    account_id: str
    created_at: float
    # None until versioning is first configured, then "Enabled" or "Suspended" (never None
    # again: S3 has no way back to an unversioned bucket).
    versioning: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of an object's bytes held in one blob file. A part of a multipart object with a
    COMPOSITE checksum keeps its part's checksum (GetObjectAttributes lists them)."""

    path: str
    size: int
    checksum: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What is known of a stored object; its bytes are the concatenation of ``segments``."""

    bucket_id: str
    key: str
    size: int
    etag: str
    last_modified: float
    headers: dict[str, str]
    metadata: dict[str, str]
    checksums: dict[str, str]
    checksum_type: str | None
    segments: tuple[Segment, ...]
    parts_count: int = 0
    # None is S3's "null" version: every object of a never-versioned bucket, and what a
    # write makes while versioning is suspended.
    version_id: str | None = None
    # A delete marker has no bytes, headers nor segments; it only hides older versions.
    delete_marker: bool = False
    # The object's tags as (key, value) pairs, in the order they were given.
    tags: tuple[tuple[str, str], ...] = ()
    # Object Lock (nexq.storage.object_lock): a retention mode ("GOVERNANCE" or
    # "COMPLIANCE") and the time it holds until, and a legal hold: True (ON), False (set
    # OFF) or None (never set; S3 tells the two apart: 404 against Status OFF).
    lock_mode: str | None = None
    lock_until: float | None = None
    legal_hold: bool | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    """A multipart upload in progress."""

    id: str
    bucket_id: str
    key: str
    initiated: float
    headers: dict[str, str]
    metadata: dict[str, str]
    checksum_algorithm: str | None
    checksum_type: str | None


@dataclass(frozen=True, slots=True)
class Part:
    """One uploaded part of a multipart upload."""

    upload_id: str
    number: int
    size: int
    etag: str
    last_modified: float
    path: str
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An S3 credential of an account; ``bucket_ids`` is None for All Buckets."""

    id: str
    account_id: str
    label: str
    status: str
    created_at: float
    bucket_ids: frozenset[str] | None

    @property
    def active(self) -> bool:
        return self.status == "active"


def may_use(caller: Principal, bucket: Bucket) -> bool:
    """Whether ``caller`` reaches ``bucket``: its account's, and granted if the caller is an
    access key limited to some buckets (a grant follows the bucket's id, not its name); or
    opened to the caller by the bucket's policy for the request at hand."""
    if bucket.id in caller.granted:
        return True
    if bucket.account_id != caller.account.id:
        return False
    return caller.reaches is None or bucket.id in caller.reaches


@dataclass(frozen=True, slots=True)
class ListedObject:
    """What a listing shows of an object (no headers, metadata or blob layout to decode)."""

    key: str
    size: int
    etag: str
    last_modified: float
    checksum_algorithms: tuple[str, ...] = ()
    checksum_type: str | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a bucket listing."""

    objects: list[ListedObject]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str | None


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` rolls up into in a listing by ``prefix`` and
    ``delimiter``, or None if it is listed as itself (always, with no delimiter)."""
    if not delimiter or not key.startswith(prefix):
        return None
    index = key.find(delimiter, len(prefix))
    return None if index < 0 else key[: index + len(delimiter)]


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``, or None if
    there is none (``prefix`` is empty or all U+10FFFF): then nothing follows the prefix."""
    for index in range(len(prefix) - 1, -1, -1):
        last = ord(prefix[index])
        if last < 0x10FFFF:
            following = last + 1 if not 0xD800 <= last + 1 < 0xE000 else 0xE000  # skip surrogates
            return prefix[:index] + chr(following)
    return None


@dataclass(frozen=True, slots=True)
class Counters:
    """Data In / Data Out bytes and operations by billing class (other = not billed)."""

    data_in: int = 0
    data_out: int = 0
    class_a: int = 0
    class_b: int = 0
    other: int = 0

    @property
    def operations(self) -> int:
        return self.class_a + self.class_b + self.other

    def __add__(self, more: Counters) -> Counters:
        return Counters(
            self.data_in + more.data_in,
            self.data_out + more.data_out,
            self.class_a + more.class_a,
            self.class_b + more.class_b,
            self.other + more.other,
        )


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One process's counts for a bucket in an hour (hours since the epoch, UTC)."""

    account_id: str
    hour: int
    bucket_id: str
    bucket_name: str
    counters: Counters
