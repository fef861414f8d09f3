"""A backup kept in an S3 bucket (``nexq admin backup --to s3://BUCKET/PREFIX``, ``nexq
admin restore --from s3://…``): the layout of :mod:`nexq.cli.backup_format`, one object per
file under the prefix, each uploaded with its SHA-256 (S3's SHA-256 checksum, checked by the
bucket's server as the bytes arrive, and ``x-amz-meta-sha256``), the manifest last. Large
files go up in parts (boto3's managed transfer) and come down in ranged GETs, several at once.

Credentials, region and endpoint come from the AWS SDK's usual chain (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/config, AWS_ENDPOINT_URL), or --endpoint-url.
boto3 is imported only when a command uses a bucket: every other ``nexq`` command starts
without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nexq.cli.backup_format import CHUNK, MANIFEST, BackupRefused, Pace, Readable

SCHEME = "s3://"
DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
# A restore fetches an object larger than PART in ranged GETs of PART bytes, PARTS_IN_FLIGHT
# at a time: one stream of a large object is bound by one connection (and one worker of the
# server); a few in parallel are not, and a part's request costs little beside its 16 MiB.
PART = 16 * 2**20
PARTS_IN_FLIGHT = 4
PART_ATTEMPTS = 3  # a part whose stream breaks is fetched again, this many times in all


class S3Failure(OSError):
    """A request to the bucket failed; the message names the problem for the operator."""


@dataclass(frozen=True)
class S3Location:
    """A bucket and a prefix in it, as ``s3://BUCKET/PREFIX`` names them."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """The location ``url`` names; BackupRefused if it names no bucket."""
        bucket, _, prefix = url.removeprefix(SCHEME).partition("/")
        if not bucket:
            raise BackupRefused(f"{url} names no bucket: write s3://BUCKET/PREFIX")
        return cls(bucket, prefix.strip("/"))

    def key(self, name: str) -> str:
        """The object key of the backup's file ``name``."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"


def is_s3(where: str) -> bool:
    """Whether ``where`` (a --to or --from value) names a bucket rather than a folder."""
    return where.startswith(SCHEME)


def _client(endpoint_url: str | None) -> Any:
    """An S3 client on the SDK's credential chain. Few retries: an operator who mistyped the
    endpoint hears it in seconds, not after a minute of back-off."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        # Each thread that uploads or downloads a file holds a connection of its own.
        max_pool_connections=32,
    )
    try:
        return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
    except ValueError as exc:  # botocore's word for an endpoint URL that is not one
        raise BackupRefused(f"--endpoint-url {endpoint_url}: {exc}") from None


@contextlib.contextmanager
def _said(location: S3Location, doing: str) -> Iterator[None]:
    """Turn the SDK's errors into S3Failure naming the problem and what was being done."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    try:
        yield
    except NoCredentialsError:
        raise S3Failure(
            f"no AWS credentials to {doing} {location}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        ) from None
    except EndpointConnectionError as exc:
        raise S3Failure(f"cannot {doing} {location}: {exc}") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "?"))
        hint = {
            "InvalidAccessKeyId": "the endpoint does not know the access key id",
            "SignatureDoesNotMatch": "the secret access key is wrong",
            "NoSuchBucket": f"there is no bucket {location.bucket}",
            "AccessDenied": "the credentials may not do this",
            "PreconditionFailed": "the object changed while it was being downloaded",
            "403": "the credentials may not do this",
        }.get(code, error.get("Message") or "refused")
        raise S3Failure(f"cannot {doing} {location}: {code}: {hint}") from None
    except BotoCoreError as exc:
        raise S3Failure(f"cannot {doing} {location}: {exc}") from None


class S3Destination:
    """Where ``nexq admin backup --to s3://…`` puts the backup's files: objects under a prefix
    of a bucket, each with its SHA-256; the metadata snapshot is made in a scratch folder
    beside the data dir first (SQLite copies into a file)."""

    def __init__(self, location: S3Location, endpoint_url: str | None, data_dir: Path) -> None:
        self.location = location
        self.where = str(location)
        self._client = _client(endpoint_url)
        self._data_dir = data_dir
        self._scratch: Path | None = None
        self._transfer: Any = None
        self._uploaded: list[str] = []
        self._lock = threading.Lock()
        self.discarded = "nothing was uploaded"

    def refuse_unless_fresh(self, source: Path) -> None:
        """BackupRefused unless nothing is under the prefix, as a folder must be new or empty:
        a backup there already, or the leftovers of one that did not finish, would mix with
        this one's files (or the bucket cannot be read: a wrong endpoint or credentials are
        said before anything is copied)."""
        manifest = self.location.key(MANIFEST)
        with _said(self.location, "list"):
            found = self._client.list_objects_v2(
                Bucket=self.location.bucket, Prefix=self.location.key(""), MaxKeys=1
            )
            if not found.get("Contents"):
                return
            kept = self._client.list_objects_v2(
                Bucket=self.location.bucket, Prefix=manifest, MaxKeys=1
            )
        if any(o["Key"] == manifest for o in kept.get("Contents", [])):
            raise BackupRefused(
                f"{self.location} holds a backup already ({MANIFEST}): back up under a new prefix"
            )
        raise BackupRefused(
            f"{self.location} is not empty: it holds {found['Contents'][0]['Key']} but no "
            f"{MANIFEST} (a backup that did not finish?): back up under a new prefix, or "
            "delete what is there"
        )

    def scratch(self) -> Path:
        """A private folder for the metadata snapshot, beside the data dir: on its disk, not
        in /tmp that may be a small RAM disk; in TMPDIR only if the data dir's parent is not
        writable (/var/lib, to a service user)."""
        if self._scratch is None:
            try:
                made = tempfile.mkdtemp(
                    prefix=".nexq-backup-", dir=self._data_dir.absolute().parent
                )
            except PermissionError:
                made = tempfile.mkdtemp(prefix="nexq-backup-")
            self._scratch = Path(made)
        return self._scratch

    @contextlib.contextmanager
    def discarded_on_failure(self) -> Iterator[None]:
        """Run the backup; if it fails, delete what it uploaded (best effort) and say so in
        ``discarded``. The scratch folder goes either way."""
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        # boto3's managed transfer, as configured by default: a file of 8 MiB or more goes up
        # in parts of 8 MiB (larger past 80 GiB: S3 takes 10,000 parts), several at once.
        self._transfer = create_transfer_manager(self._client, TransferConfig())
        try:
            yield
        except BaseException:
            self.discarded = self._delete_uploaded()
            raise
        finally:
            self._transfer.shutdown()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)

    def put(self, name: str, file: BinaryIO, pace: Pace | None = None) -> tuple[int, str]:
        """Upload ``file`` (seekable) as the backup's ``name``; (size, sha256 hex). Read once
        for its SHA-256 (at ``pace``), once to upload it: blob files never change."""
        digest = hashlib.sha256()
        size = 0
        while chunk := file.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if pace is not None:
                pace.take(len(chunk))
        file.seek(0)
        self._upload(name, file, digest.hexdigest())
        return size, digest.hexdigest()

    def put_text(self, name: str, text: str) -> str:
        """Upload ``text`` as the backup's ``name``; its SHA-256 hex."""
        data = text.encode()
        digest = hashlib.sha256(data).hexdigest()

        self._upload(name, io.BytesIO(data), digest)
        return digest

    def keep(self, name: str, local: Path) -> tuple[int, str]:
        """Upload the file ``local`` (made in the scratch folder) as the backup's ``name``."""
        with open(local, "rb") as file:
            return self.put(name, file)

    def seal(self) -> None:
        """Nothing to flush: an object is durable once its upload is answered."""

    def _upload(self, name: str, file: BinaryIO, digest: str) -> None:
        key = self.location.key(name)
        extra = {"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": digest}}
        with _said(self.location, f"upload {name} to"):
            self._transfer.upload(file, self.location.bucket, key, extra_args=extra).result()
        with self._lock:
            self._uploaded.append(key)

    def _delete_uploaded(self) -> str:
        """Delete every object this run uploaded; what was done, as the operator reads it."""
        keys = sorted(set(self._uploaded))
        if not keys:
            return f"nothing was uploaded to {self.location}"
        left: list[str] = []
        problem = ""
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                with _said(self.location, "delete the backup's objects in"):
                    answer = self._client.delete_objects(
                        Bucket=self.location.bucket,
                        Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                    )
                left += [e["Key"] for e in answer.get("Errors", [])]
            except S3Failure as exc:
                left += batch
                problem = f" ({exc})"
        if not left:
            return f"the {len(keys)} objects it uploaded to {self.location} were deleted"
        return (
            f"{len(left)} of the {len(keys)} objects it uploaded to {self.location} could not be "
            f"deleted{problem}: delete them (e.g. {left[0]})"
        )


class S3Source:
    """Where ``nexq admin restore --from s3://…`` reads a backup's files: objects under a
    prefix. A large object comes down in ranged GETs, several at once, each written where it
    belongs in the file; the file's SHA-256 is taken in order as the parts land."""

    def __init__(self, location: S3Location, endpoint_url: str | None) -> None:
        self.location = location
        self.where = str(location)
        self._client = _client(endpoint_url)

    def read(self, name: str) -> bytes:
        """The whole object of the backup's ``name``; FileNotFoundError if there is none."""
        answer = self._get(name)
        body = _Chunks(answer["Body"], self.location, name)
        try:
            return body.read()
        finally:
            body.close()

    def some(self, limit: int) -> list[str]:
        """Up to ``limit`` of the names under the prefix (to say what a prefix without a
        manifest holds)."""
        under = self.location.key("")
        with _said(self.location, "list"):
            found = self._client.list_objects_v2(
                Bucket=self.location.bucket, Prefix=under, MaxKeys=limit
            )
        return [o["Key"].removeprefix(under) for o in found.get("Contents", [])]

    def fetch(self, name: str, target: Path) -> tuple[int, str]:
        """Download the backup's ``name`` into the new file ``target`` (0600), flushed:
        (size, sha256 hex); FileNotFoundError if there is no such object. S3Failure if the
        bytes that came are not as many as the object holds, or it changed meanwhile.

        The first GET asks for the first part only: a small object (most blob files) takes
        one request, a large one says its size and ETag, and its other parts are fetched
        PARTS_IN_FLIGHT at a time, each only if the object still has that ETag. Memory
        stays at a chunk per part in flight, whatever the object's size."""
        answer = self._get(name, f"bytes=0-{PART - 1}")
        total, etag = _extent(answer)
        sent = int(answer["ContentLength"])  # the first part, or all if the Range was ignored
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            digest = hashlib.sha256()
            first = _Chunks(answer["Body"], self.location, name)
            with contextlib.closing(first):
                done = _write(first, fd, 0, digest)
            if done != sent:
                raise S3Failure(
                    f"cannot download {name} from {self.location}: {done} bytes came of the "
                    f"{sent} announced"
                )
            if done < total:
                self._rest(name, etag, done, total, fd, digest)
            os.fsync(fd)
        finally:
            os.close(fd)
        return total, digest.hexdigest()

    def _rest(self, name: str, etag: str, first: int, total: int, fd: int, digest: Any) -> None:
        """The bytes from ``first`` on, downloaded into ``fd`` in parts, several at once, and
        hashed into ``digest`` in order as each is written (read back from the file, which
        the page cache still holds: no part is kept in memory for the hash's sake)."""
        spans = [(start, min(start + PART, total) - 1) for start in range(first, total, PART)]
        with ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="nexq-restore") as pool:
            parts = [
                pool.submit(self._part, name, etag, total, fd, start, end) for start, end in spans
            ]
            try:
                for (start, end), part in zip(spans, parts, strict=True):
                    part.result()
                    offset = start
                    while offset <= end:
                        chunk = os.pread(fd, min(CHUNK, end + 1 - offset), offset)
                        if not chunk:  # only if something else truncated the file
                            raise OSError(f"{name} was cut short at {offset} while restored")
                        digest.update(chunk)
                        offset += len(chunk)
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

    def _part(self, name: str, etag: str, total: int, fd: int, start: int, end: int) -> None:
        """Download bytes ``start``-``end`` of ``name`` into ``fd`` at their offset; again
        from the start of the part if the stream breaks (a GET that fails to start is
        retried by the SDK itself)."""
        from botocore.exceptions import BotoCoreError

        for attempt in range(1, PART_ATTEMPTS + 1):
            answer = self._get(name, f"bytes={start}-{end}", etag)
            body = answer["Body"]
            try:
                if answer.get("ContentRange") != f"bytes {start}-{end}/{total}":
                    raise S3Failure(
                        f"cannot download {name} from {self.location}: asked for bytes "
                        f"{start}-{end}/{total}, got {answer.get('ContentRange') or 'all of it'}"
                    )
                done = _write(body, fd, start, None)
            except BotoCoreError as exc:
                if attempt == PART_ATTEMPTS:
                    raise S3Failure(
                        f"cannot download {name} from {self.location}: bytes {start}-{end} "
                        f"broke off {PART_ATTEMPTS} times ({exc})"
                    ) from None
                continue
            finally:
                body.close()
            if done != end + 1 - start:
                raise S3Failure(
                    f"cannot download {name} from {self.location}: {done} bytes came of "
                    f"bytes {start}-{end}"
                )
            return

    def _get(self, name: str, span: str | None = None, etag: str | None = None) -> Any:
        """GetObject of the backup's ``name`` (``span``: a Range; ``etag``: only if it still
        has that ETag). FileNotFoundError if there is no such object; an empty object,
        which has no byte to range over, whole."""
        from botocore.exceptions import ClientError

        request: dict[str, str] = {"Bucket": self.location.bucket, "Key": self.location.key(name)}
        if span is not None:
            request["Range"] = span
        if etag is not None:
            request["IfMatch"] = etag
        with _said(self.location, f"download {name} from"):
            try:
                return self._client.get_object(**request)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("NoSuchKey", "404"):
                    raise FileNotFoundError(f"{self.location.key(name)}") from None
                if code == "InvalidRange" and etag is None:
                    del request["Range"]
                    return self._client.get_object(**request)
                raise


def _extent(answer: dict[str, Any]) -> tuple[int, str]:
    """The whole object's size and ETag, from a GET's answer to a Range (a 206's Content-
    Range: "bytes 0-N/SIZE"; a 200, which sends all of it, has none)."""
    extent = answer.get("ContentRange")
    total = int(extent.rpartition("/")[2]) if extent else int(answer["ContentLength"])
    return total, str(answer.get("ETag", ""))


def _write(body: Readable, fd: int, offset: int, digest: Any) -> int:
    """Write what ``body`` holds into ``fd`` from ``offset`` on, a chunk at a time, hashing
    it into ``digest`` if given; how many bytes it held."""
    at = offset
    while chunk := body.read(CHUNK):
        if digest is not None:
            digest.update(chunk)
        view = memoryview(chunk)
        while view:
            written = os.pwrite(fd, view, at)
            view = view[written:]
            at += written
    return at - offset


class _Chunks:
    """An object's body (botocore's StreamingBody) to read in chunks: the SDK's errors
    mid-stream become S3Failure."""

    def __init__(self, body: Any, location: S3Location, name: str) -> None:
        self._body = body
        self._location = location
        self._name = name

    def read(self, size: int = -1, /) -> bytes:
        """At most ``size`` bytes (all that is left if negative); b"" at the end."""
        with _said(self._location, f"download {self._name} from"):
            data: bytes = self._body.read(size if size >= 0 else None)
        return data

    def close(self) -> None:
        """Done reading: the connection goes back to the pool."""
        self._body.close()
