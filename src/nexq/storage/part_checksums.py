"""Which checksum a part of an upload created with ``x-amz-checksum-algorithm`` must carry, and
which the server computes for it. Pure, no I/O.

S3 compat: the checksum of a COMPOSITE upload is made of its parts' own, so a part sent
without the upload's checksum (or with another algorithm's) is refused before its body is
read: 400 InvalidRequest "Checksum Type mismatch occurred, expected checksum Type: sha256,
actual checksum Type: null" (AWS's words; "null" when the part names none). A FULL_OBJECT
upload's checksum is a CRC combined over the bytes, so AWS accepts a part without one and
computes it: so does this server, which is what lets CompleteMultipartUpload give the object
its checksum whatever the client sent.
"""

from __future__ import annotations

from collections.abc import Iterable

from nexq.storage.checksums import DEFAULT_ALGORITHM
from nexq.storage.errors import BadDigest, InvalidPart, InvalidRequest
from nexq.storage.model import Part, Upload


def part_algorithms(upload: Upload, declared: Iterable[str]) -> set[str]:
    """The checksums to compute for a part of ``upload`` whose request names ``declared``
    (in a header, a trailer or x-amz-sdk-checksum-algorithm): those, and the upload's own.
    InvalidRequest when a COMPOSITE upload's part does not name the upload's algorithm."""
    named = {algorithm.upper() for algorithm in declared}
    check_part_algorithms(upload, named)
    named.add(upload_algorithm(upload))
    return named


def shown_part_checksums(upload: Upload, checksums: dict[str, str]) -> dict[str, str]:
    """What ListParts and UploadPartCopy show of a part's checksums: its upload's algorithm's
    only. S3 compat: a part of an upload created without an algorithm shows none (AWS's
    answers, recorded in 2025), though the server keeps the default one it computed for the
    completion, and any a client sent with the part."""
    algorithm = upload.checksum_algorithm
    return {algorithm: checksums[algorithm]} if algorithm in checksums else {}


def upload_algorithm(upload: Upload) -> str:
    """The checksum every part of ``upload`` is given: its own algorithm, else the default
    one, whose whole-object value the completion combines from the parts'."""
    return upload.checksum_algorithm or DEFAULT_ALGORITHM


def check_part_algorithms(upload: Upload, computed: Iterable[str]) -> None:
    """InvalidRequest unless a part of a COMPOSITE upload is checked with the upload's
    algorithm (``computed``: the checksums its body was hashed with, as the client named)."""
    expected = upload.checksum_algorithm
    if expected is None or upload.checksum_type != "COMPOSITE":
        return
    named = sorted(algorithm.upper() for algorithm in computed)
    if expected in named:
        return
    actual = named[0].lower() if named else "null"
    raise InvalidRequest(
        f"Checksum Type mismatch occurred, expected checksum Type: {expected.lower()}, "
        f"actual checksum Type: {actual}"
    )


def check_named_checksums(
    upload: Upload, number: int, checksums: dict[str, str], part: Part
) -> None:
    """The checksums a CompleteMultipartUpload names for part ``number`` must be the part's;
    for a COMPOSITE upload the upload's own algorithm must be named, as the object's checksum
    is made of the parts' (S3 compat: AWS's errors and words for each case). A checksum
    named for a part that has none is InvalidPart when the upload declared no algorithm (the
    named value cannot be checked, so it does not hold, as AWS answers); in an upload that
    declared one, a part stored without it (kept from before every part of such an upload
    had one) is not asked."""
    named = {alg.upper(): value for alg, value in checksums.items()}
    algorithm = upload.checksum_algorithm
    if (
        algorithm is not None
        and upload.checksum_type == "COMPOSITE"
        and algorithm in part.checksums
        and algorithm not in named
    ):
        if named:  # another algorithm's checksum: not the one the part was stored with
            other = next(iter(named)).lower()
            raise BadDigest(
                f"The {other} you specified for part {number} did not match what we received."
            )
        raise InvalidRequest(
            f"The upload was created using a {algorithm.lower()} checksum. The complete "
            "request must include the checksum for each part. It was missing for part "
            f"{number} in the request."
        )
    for alg, value in named.items():
        stored = part.checksums.get(alg)
        if (stored is None and algorithm is None) or stored not in (None, value):
            raise InvalidPart(f"The checksum of part {number} does not match.")
