"""Object Storage's domain errors. They know nothing of HTTP; the S3 layer maps them."""

from nexq.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound


class NoSuchBucket(NotFound):
    """The specified bucket does not exist."""


class NoSuchKey(NotFound):
    """The specified key does not exist."""


class NoSuchUpload(NotFound):
    """The specified multipart upload does not exist."""


class NoSuchAccessKey(NotFound):
    """The specified access key does not exist."""


class BucketAlreadyExists(Conflict):
    """The requested bucket name is not available."""


class BucketAlreadyOwnedByYou(Conflict):
    """You already own this bucket."""


class BucketNotEmpty(Conflict):
    """The bucket you tried to delete is not empty."""


def unfinished_uploads(count: int) -> BucketNotEmpty:
    """The refusal to delete a bucket that holds no object but ``count`` uploads."""
    # S3 compat: still BucketNotEmpty, but say why when no object is listed.
    return BucketNotEmpty(
        f"The bucket has no objects but {count} unfinished multipart "
        "upload(s); abort them (e.g. aws s3api abort-multipart-upload) first."
    )


class InvalidBucketName(Invalid):
    """The specified bucket is not valid."""


class KeyTooLong(Invalid):
    """Your key is too long."""


class MetadataTooLarge(Invalid):
    """Your metadata headers exceed the maximum allowed metadata size."""


class EntityTooLarge(Invalid):
    """Your proposed upload exceeds the maximum allowed size."""


class EntityTooSmall(Invalid):
    """Your proposed upload is smaller than the minimum allowed object size."""


class InvalidPart(Invalid):
    """One or more of the specified parts could not be found."""


class InvalidPartOrder(Invalid):
    """The list of parts was not in ascending order."""


class BadDigest(Invalid):
    """The digest you specified did not match what we received."""


class ChecksumMismatch(Invalid):
    """The checksum you specified did not match what we received."""

    def __init__(self, algorithm: str) -> None:
        super().__init__(
            f"The {algorithm.upper()} you specified did not match the calculated checksum."
        )
        self.algorithm = algorithm


class InvalidRequest(Invalid):
    """The request cannot be carried out as it stands (S3's InvalidRequest)."""


class PreconditionFailed(DomainError):
    """At least one of the pre-conditions you specified did not hold."""


class NotModified(DomainError):
    """The object was not modified since the given time or matches the given ETag."""


class InvalidRange(Invalid):
    """The requested range is not satisfiable."""


class AccessDenied(Forbidden):
    """Access Denied."""


class InvalidArgument(Invalid):
    """An argument was not valid."""


class AccountSuspended(Forbidden):
    """The account is suspended."""
