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
    """The bucket you tried to delete is not empty"""  # S3 compat: AWS's words, no full stop


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

    def __init__(self, condition: str | None = None) -> None:
        super().__init__()
        self.condition = condition  # the header that did not hold, as S3 names it


class ConditionalRequestConflict(Conflict):
    """The conditional request cannot succeed due to a conflicting operation against this
    resource."""

    def __init__(self, condition: str) -> None:
        super().__init__()
        self.condition = condition


class NotModified(DomainError):
    """The object was not modified since the given time or matches the given ETag."""

    def __init__(self, condition: str | None = None) -> None:
        super().__init__()
        self.condition = condition


class InvalidRange(Invalid):
    """The requested range is not satisfiable."""


class AccessDenied(Forbidden):
    """Access Denied"""  # S3 compat: AWS's words, no full stop


class InvalidArgument(Invalid):
    """An argument was not valid."""

    def __init__(
        self, message: str = "", name: str | None = None, value: str | None = None
    ) -> None:
        super().__init__(message)
        self.name = name  # the argument, as S3 names it (ArgumentName), when it does
        self.value = value


class AccountSuspended(Forbidden):
    """The account is suspended."""


class NoSuchVersion(NotFound):
    """The specified version does not exist."""


class DeleteMarkerFound(DomainError):
    """What a read finds where a delete marker stands: the key's latest version when no
    version was asked for (S3 answers NoSuchKey), or the version asked for (405). Both
    answers name the marker."""

    def __init__(self, version_id: str | None, last_modified: float, asked: bool) -> None:
        super().__init__(
            "The specified method is not allowed against this resource."
            if asked
            else "The specified key does not exist."
        )
        self.version_id = version_id
        self.last_modified = last_modified
        self.asked = asked


class IllegalVersioningConfiguration(Invalid):
    """The versioning configuration specified in the request is invalid."""
