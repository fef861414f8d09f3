"""The registry's domain errors; the OCI protocol maps each to its error code and status."""

from __future__ import annotations

from nexq.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound


class NameInvalid(Invalid):
    """Invalid repository or registry name."""


class TagInvalid(Invalid):
    """Invalid tag."""


class DigestInvalid(Invalid):
    """The digest is malformed or does not match the content."""


class SizeInvalid(Invalid):
    """The content does not have the size it was declared to have."""


class ManifestInvalid(Invalid):
    """The manifest is malformed."""


class ManifestBlobUnknown(Invalid):
    """The manifest refers to a blob or manifest the repository does not hold."""

    def __init__(self, message: str, digest: str) -> None:
        super().__init__(message)
        self.digest = digest


class UploadInvalid(Invalid):
    """The upload is out of order or otherwise invalid."""


class RangeInvalid(Invalid):
    """The chunk does not start where the upload ends (416 Range Not Satisfiable)."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size  # what the upload holds: clients resume from here


class NameUnknown(NotFound):
    """The repository (or registry) is not known to the registry."""


class BlobUnknown(NotFound):
    """The blob is not known to the repository."""


class ManifestUnknown(NotFound):
    """The manifest is not known to the repository."""


class UploadUnknown(NotFound):
    """The upload session is not known (finished, cancelled or expired)."""


class RegistryExists(Conflict):
    """A registry of that name exists already."""


class Denied(Forbidden):
    """The credential may not do this (read-only, another registry)."""


class Unsupported(DomainError):
    """The operation is not supported."""
