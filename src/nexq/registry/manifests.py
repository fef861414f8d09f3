"""What a pushed manifest says: its media type, what it names, its subject and artifact type.

The four media types of images (OCI image manifest and index, Docker schema 2 manifest and
manifest list); anything else is refused, as the reference registry refuses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nexq.registry.errors import ManifestInvalid
from nexq.registry.model import DIGEST

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
MEDIA_TYPES = IMAGES + INDEXES
# Layers that live elsewhere (Windows base layers): named by URL, never pushed here.
_FOREIGN = ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "nondistributable")


@dataclass(frozen=True, slots=True)
class Parsed:
    media_type: str
    blobs: tuple[str, ...]  # config and layers the repository must hold
    manifests: tuple[str, ...]  # an index's children, which the repository must hold
    subject: str | None
    artifact_type: str | None
    annotations: dict[str, Any] | None


def parse(body: bytes, content_type: str | None) -> Parsed:
    """Check a manifest and say what it names; ManifestInvalid naming what is wrong."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestInvalid(f"manifest: not valid JSON ({exc}).") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest: a JSON object is expected.")
    declared = document.get("mediaType")
    kind = (content_type or "").split(";")[0].strip() or declared
    if declared is not None and kind != declared:
        raise ManifestInvalid(
            f"manifest: its mediaType {declared!r} differs from the Content-Type {kind!r}."
        )
    if kind is None and "manifests" in document:
        kind = OCI_INDEX
    elif kind is None and "layers" in document:
        kind = OCI_MANIFEST
    if kind not in MEDIA_TYPES:
        raise ManifestInvalid(
            f"manifest: media type {kind!r} is not one of {', '.join(MEDIA_TYPES)}."
        )
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("manifest: schemaVersion must be 2.")
    subject = document.get("subject")
    subject_digest = _descriptor(subject, "subject")[0] if subject is not None else None
    annotations = document.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        raise ManifestInvalid("manifest: annotations must be an object.")
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("manifest: artifactType must be a string.")
    if kind in IMAGES:
        config_digest, config_type = _descriptor(document.get("config"), "config")
        layers = document.get("layers")
        if not isinstance(layers, list):
            raise ManifestInvalid("manifest: layers must be a list.")
        blobs = [config_digest]
        for index, layer in enumerate(layers):
            digest, media_type = _descriptor(layer, f"layers[{index}]")
            if not any(foreign in media_type for foreign in _FOREIGN):
                blobs.append(digest)
        # OCI 1.1: an image manifest's artifact type defaults to its config's media type.
        if artifact_type is None and kind == OCI_MANIFEST:
            artifact_type = config_type
        return Parsed(kind, tuple(blobs), (), subject_digest, artifact_type, annotations)
    children = document.get("manifests")
    if not isinstance(children, list):
        raise ManifestInvalid("manifest: manifests must be a list.")
    digests = tuple(
        _descriptor(child, f"manifests[{index}]")[0] for index, child in enumerate(children)
    )
    return Parsed(kind, (), digests, subject_digest, artifact_type, annotations)


def _descriptor(value: object, where: str) -> tuple[str, str]:
    """(digest, mediaType) of a descriptor."""
    if not isinstance(value, dict):
        raise ManifestInvalid(f"manifest: {where} must be a descriptor object.")
    digest, media_type, size = value.get("digest"), value.get("mediaType"), value.get("size")
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise ManifestInvalid(f"manifest: {where}.digest {digest!r} is not a valid digest.")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"manifest: {where}.mediaType is missing.")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"manifest: {where}.size must be a non-negative integer.")
    return digest, media_type
