"""A backup kept in an S3 bucket (``nexq admin backup --to s3://BUCKET/PREFIX``, ``nexq
admin restore --from s3://…``): the layout of :mod:`nexq.cli.backup_format`, one object per
file under the prefix, each uploaded with its SHA-256 (S3's SHA-256 checksum, checked by the
bucket's server as the bytes arrive, and ``x-amz-meta-sha256``), the manifest last.

Credentials, region and endpoint come from the AWS SDK's usual chain (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/config, AWS_ENDPOINT_URL), or --endpoint-url.
boto3 is imported only when a command uses a bucket: every other ``nexq`` command starts
without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nexq.cli.backup_format import CHUNK, MANIFEST, BackupRefused, Pace, Readable

SCHEME = "s3://"
DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys


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
        """BackupRefused if the prefix holds a backup already (or the bucket cannot be read:
        a wrong endpoint or credentials are said before anything is copied)."""
        with _said(self.location, "list"):
            found = self._client.list_objects_v2(
                Bucket=self.location.bucket, Prefix=self.location.key(MANIFEST), MaxKeys=1
            )
        if any(o["Key"] == self.location.key(MANIFEST) for o in found.get("Contents", [])):
            raise BackupRefused(
                f"{self.location} holds a backup already ({MANIFEST}): back up under a new prefix"
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
    prefix, streamed (the restore checks each one's SHA-256 as it writes it)."""

    def __init__(self, location: S3Location, endpoint_url: str | None) -> None:
        self.location = location
        self.where = str(location)
        self._client = _client(endpoint_url)

    def read(self, name: str) -> bytes:
        """The whole object of the backup's ``name``; FileNotFoundError if there is none."""
        body = self.open(name)
        try:
            return body.read()
        finally:
            body.close()

    def open(self, name: str) -> Readable:
        """The object of the backup's ``name``, to read in chunks; FileNotFoundError if there
        is none."""
        from botocore.exceptions import ClientError

        with _said(self.location, f"download {name} from"):
            try:
                answer = self._client.get_object(
                    Bucket=self.location.bucket, Key=self.location.key(name)
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise FileNotFoundError(f"{self.location.key(name)}") from None
                raise
        return _Chunks(answer["Body"], self.location, name)


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
