"""Images and artifacts built offline, as OCI image layouts written byte for byte.

Their digests are the same on every run, and nothing is pulled from anywhere: a test pushes
them with a real client and compares what comes back with what it wrote.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

GREETING = "hello from nexq"
BUSYBOX = Path("/usr/bin/busybox")  # busybox-static: needs no libc, so a scratch image runs it
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"  # OCI 1.1: the config of an artifact
REF_NAME = "org.opencontainers.image.ref.name"
SBOM = "application/vnd.example.sbom.v1"
Files = dict[str, tuple[bytes, int]]  # path in the image -> (content, mode)


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _tar(files: Files) -> bytes:
    """A layer tar with no clock, owner or order left to chance (TarInfo's defaults are 0)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        folders = {str(p) for name in files for p in PurePosixPath(name).parents if str(p) != "."}
        for folder in sorted(folders):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Layout:
    """An OCI image layout being written: content-addressed blobs, then index.json."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))

    def blob(self, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data), **extra}

    def image(self, layers: list[Files], cmd: list[str], architecture: str = "amd64") -> Any:
        diff_ids, descriptors = [], []
        for files in layers:
            tar = _tar(files)
            diff_ids.append(f"sha256:{hashlib.sha256(tar).hexdigest()}")
            descriptors.append(self.blob(gzip.compress(tar, mtime=0), OCI_LAYER))
        config = {
            "architecture": architecture,
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/bin"], **({"Cmd": cmd} if cmd else {})},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(canonical(config), OCI_CONFIG),
            "layers": descriptors,
        }
        platform = {"architecture": architecture, "os": "linux"}
        return self.blob(canonical(manifest), OCI_MANIFEST, platform=platform)

    def tag(self, descriptor: dict[str, Any], tag: str) -> Path:
        entry = {**descriptor, "annotations": {REF_NAME: tag}}
        (self.root / "index.json").write_bytes(
            canonical({"schemaVersion": 2, "manifests": [entry]})
        )
        return self.root


def _busybox_layer() -> Files:
    return {"bin/busybox": (BUSYBOX.read_bytes(), 0o755)}


def build_busybox_image(directory: Path, *, tag: str = "latest") -> Path:
    """A scratch image of /bin/busybox whose command prints GREETING, as an OCI layout."""
    layout = Layout(directory)
    return layout.tag(layout.image([_busybox_layer()], ["/bin/busybox", "echo", GREETING]), tag)


def build_layered_image(directory: Path, layers: int, *, tag: str = "latest") -> Path:
    """An image of ``layers`` small layers, each adding a file of its own (and no command)."""
    layout = Layout(directory)
    files = [{f"layers/{n:04}.txt": (f"layer {n}\n".encode(), 0o644)} for n in range(layers)]
    return layout.tag(layout.image(files, []), tag)


def build_multi_arch_image(directory: Path, *, tag: str = "latest") -> Path:
    """An image index of linux/amd64 (the busybox image) and linux/arm64 (a file naming its
    platform: no arm64 busybox is at hand, and this machine could not run it anyway)."""
    layout = Layout(directory)
    amd64 = layout.image([_busybox_layer()], ["/bin/busybox", "echo", GREETING])
    arm64_files: Files = {"etc/platform": (b"linux/arm64\n", 0o644)}
    arm64 = layout.image([arm64_files], ["/bin/busybox", "cat", "/etc/platform"], "arm64")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd64, arm64]}
    return layout.tag(layout.blob(canonical(index), OCI_INDEX), tag)


def build_artifact(directory: Path, subject: Path, *, tag: str = "sbom") -> Path:
    """An OCI 1.1 artifact (type SBOM: an empty config and one small JSON blob) whose
    ``subject`` is the image of the layout ``subject``, as a layout of its own."""
    image = json.loads((subject / "index.json").read_text())["manifests"][0]
    layout = Layout(directory)
    sbom = canonical({"spdxVersion": "SPDX-2.3", "name": "busybox", "packages": []})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM,
        "config": layout.blob(b"{}", OCI_EMPTY),
        "layers": [layout.blob(sbom, "application/spdx+json")],
        "subject": {k: image[k] for k in ("mediaType", "digest", "size")},
        "annotations": {"org.opencontainers.image.created": "1970-01-01T00:00:00Z"},
    }
    return layout.tag(layout.blob(canonical(manifest), OCI_MANIFEST), tag)


def layout_digest(layout: Path) -> str:
    """The digest of what the layout's index.json names: an image manifest or an index."""
    return str(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])


def layout_blobs(layout: Path) -> set[str]:
    return {path.name for path in (layout / "blobs" / "sha256").iterdir()}
