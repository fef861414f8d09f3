"""The Debian 12 cloud image's parts that need no build: the NoCloud seed, an instance's
overlay, the build tree's removal, the recipe's digest. The image itself is built and booted
end to end in test_debian_live.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from nexq.compute.qemu import debian, debian_guest
from nexq.compute.qemu.debian import (
    BASE_DISK_MIB,
    DebianImage,
    DebianImageError,
)
from nexq.compute.qemu.machine import create_disk
from nexq.compute.qemu.seed import SeedError, write_seed


def test_the_seed_is_an_iso_labelled_cidata_with_meta_data_and_user_data(tmp_path: Path) -> None:
    keys = "ssh-ed25519 AAAAC3Nza ada@laptop\n\n# a comment\nssh-rsa AAAAB3Nza ci@build\n"
    seed = tmp_path / "seed.iso"
    write_seed(seed, instance_id="i-7", hostname="db-2", authorized_keys=keys)
    label = subprocess.run(
        ["blkid", "-o", "value", "-s", "LABEL", str(seed)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert label.stdout.strip() == "cidata"
    files = _extract(seed, tmp_path / "out")
    assert yaml.safe_load(files["meta-data"]) == {"instance-id": "i-7", "local-hostname": "db-2"}
    assert files["user-data"].startswith("#cloud-config\n")
    assert yaml.safe_load(files["user-data"]) == {
        "ssh_authorized_keys": ["ssh-ed25519 AAAAC3Nza ada@laptop", "ssh-rsa AAAAB3Nza ci@build"]
    }


def test_a_key_comment_cannot_add_cloud_config_of_its_own(tmp_path: Path) -> None:
    sly = 'ssh-ed25519 AAAAC3Nza x" ]\nruncmd: [reboot]\n'
    seed = tmp_path / "seed.iso"
    write_seed(seed, instance_id="i-8", hostname="web-2", authorized_keys=sly)
    config = yaml.safe_load(_extract(seed, tmp_path / "out")["user-data"])
    # Each line stays a string in the key list, where sshd ignores what is not a key.
    assert config == {"ssh_authorized_keys": ['ssh-ed25519 AAAAC3Nza x" ]', "runcmd: [reboot]"]}


@pytest.mark.parametrize(
    ("instance_id", "hostname", "keys", "message"),
    [
        ("i-1", "web_1", "ssh-ed25519 AAAA", "'web_1' is not a hostname"),
        ("i-1", "a" * 64, "ssh-ed25519 AAAA", "is not a hostname"),
        ("i 1\nx: y", "web-1", "ssh-ed25519 AAAA", "is not an instance id"),
        ("i-1", "web-1", "\n# only a comment\n", "no SSH public key for the instance"),
        ("i-1", "web-1", "ssh-ed25519 AAAA\x1b[2J", "holds a control character"),
    ],
)
def test_a_bad_seed_is_refused_naming_what_is_wrong(
    instance_id: str, hostname: str, keys: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(SeedError, match=message):
        write_seed(
            tmp_path / "seed.iso", instance_id=instance_id, hostname=hostname, authorized_keys=keys
        )
    assert not (tmp_path / "seed.iso").exists()


def test_an_instance_disk_is_an_overlay_of_the_base_at_its_own_size(tmp_path: Path) -> None:
    base = tmp_path / "base.qcow2"
    create_disk(base, BASE_DISK_MIB)
    image = DebianImage(base, tmp_path / "vmlinuz", tmp_path / "initrd.img", "6.1.0-1-cloud-amd64")
    disk = tmp_path / "disk.qcow2"
    image.instance_disk(disk, 3072)
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(disk)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info["virtual-size"] == 3072 << 20
    assert info["backing-filename"] == str(base.resolve())
    with pytest.raises(DebianImageError, match=f"needs at least {BASE_DISK_MIB} MiB, not 512"):
        image.instance_disk(tmp_path / "small.qcow2", 512)
    assert not (tmp_path / "small.qcow2").exists()


def test_a_build_tree_is_removed_without_reaching_through_what_is_mounted_in_it(
    tmp_path: Path,
) -> None:
    # A debootstrap killed mid-way leaves the host's file systems mounted in its tree; the
    # space checks the reading of /proc/self/mountinfo, which writes it as \040.
    host, tree = tmp_path / "host dev", tmp_path / "build tree"
    host.mkdir()
    (host / "null").write_text("the host's own file")
    (tree / "dev").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(host), str(tree / "dev")], check=True)
    try:
        debian._remove_tree(tree)
    finally:
        subprocess.run(["umount", str(tree / "dev")], capture_output=True, check=False)
    assert not tree.exists()
    assert (host / "null").read_text() == "the host's own file"


def test_the_recipe_names_the_image_folder_and_changes_with_the_packages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = debian.recipe_digest()
    assert digest == debian.recipe_digest()
    monkeypatch.setattr(debian_guest, "PACKAGES", (*debian_guest.PACKAGES, "vim-tiny"))
    assert debian.recipe_digest() != digest


def _extract(seed: Path, into: Path) -> dict[str, str]:
    subprocess.run(
        ["xorriso", "-osirrox", "on", "-indev", str(seed), "-extract", "/", str(into)],
        capture_output=True,
        check=True,
    )
    return {path.name: path.read_text() for path in into.iterdir()}
