"""``nexq admin images …``: the images instances boot, built on this host by the operator."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Protocol

import typer

from nexq.adminkit import Commands, DataDir, Opener, emit, fail
from nexq.compute.host import Host, HostError
from nexq.compute.instance import IMAGES
from nexq.compute.qemu.debian import DEFAULT_MIRROR


class Installation(Protocol):
    """What the commands need of a built installation."""

    compute_host: Host


def commands(open_installation: Opener[Installation]) -> Commands:
    """The ``images`` group of ``nexq admin``; each prints JSON."""
    cli = typer.Typer(help="Compute's images: list them, build them.", no_args_is_help=True)

    @cli.command("list")
    def list_(data_dir: DataDir = None) -> None:
        """Every image, and whether an instance of it can launch on this host now."""
        with open_installation(data_dir) as nexq:
            ready = {image_id: nexq.compute_host.image_ready(image_id) for image_id in IMAGES}
        emit(
            [
                {"id": i.id, "title": i.title, "user": i.user, "ready": ready[i.id]}
                for i in IMAGES.values()
            ]
        )

    @cli.command("build")
    def build(
        image: Annotated[str, typer.Argument(metavar="IMAGE", help="An image's id: debian-12.")],
        mirror: Annotated[
            str, typer.Option(help="The Debian mirror the packages come from.")
        ] = DEFAULT_MIRROR,
        data_dir: DataDir = None,
    ) -> None:
        """Build the image once (debian-12: debootstrap from the mirror, as root, a few
        minutes); a built image is kept, and building it again does nothing."""
        if image not in IMAGES:
            fail(f"{image!r} is not an image; choose from {', '.join(IMAGES)}.")
        with open_installation(data_dir) as nexq:
            host = nexq.compute_host
            if not host.image_ready(image):
                print(f"Building {image} from {mirror}: a few minutes.", file=sys.stderr)
            started = time.monotonic()
            try:
                folder = host.build_image(image, mirror)
            except HostError as exc:
                fail(str(exc))
        emit({"id": image, "folder": str(folder), "seconds": round(time.monotonic() - started, 1)})

    return {"images": cli}
