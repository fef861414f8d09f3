"""dcp compute ssh-keys: the real executable adds, lists, shows, renames, sets the default and
deletes keys; a private key's file is refused before anything is sent."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Dcp
from tests.compute.keys import KeyPair, keygen, keygen_lf
from tests.live import LiveServer


def test_ssh_keys_from_dcp(user: Dcp, pairs: list[KeyPair]) -> None:
    added = user(
        "compute", "ssh-keys", "add", "--name", "laptop", "--public-key-file", str(pairs[0].public)
    ).stdout
    assert f"fingerprint: {keygen_lf(pairs[0].public)}\n" in added
    assert "name:        laptop\n" in added and "default:     yes\n" in added
    ci = user.json(
        "compute", "ssh-keys", "add", "--name", "ci", "--public-key-file", str(pairs[1].public)
    )
    assert (ci["name"], ci["type"], ci["bits"], ci["default"]) == ("ci", "RSA", 3072, False)
    # standard input, as `cat key.pub | dcp … --public-key-file -`
    proc = user(
        "--output",
        "json",
        "compute",
        "ssh-keys",
        "add",
        "--name",
        "spare",
        "--public-key-file",
        "-",
        stdin=pairs[2].public_text,
    )
    assert '"type": "ECDSA"' in proc.stdout

    table = user("compute", "ssh-keys", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "ID", "TYPE", "FINGERPRINT", "DEFAULT", "CREATED"]
    assert [row.split()[0] for row in table[1:]] == ["laptop", "ci", "spare"]
    assert table[1].split()[5] == "yes" and "yes" not in table[2].split()
    assert [k["name"] for k in user.json("compute", "ssh-keys", "list")] == [
        "laptop",
        "ci",
        "spare",
    ]
    # a key is named by its name or its ID
    assert user.json("compute", "ssh-keys", "show", ci["id"]) == ci
    shown = user("compute", "ssh-keys", "show", "ci").stdout
    assert f"fingerprint: {keygen_lf(pairs[1].public)}\n" in shown

    said = user("compute", "ssh-keys", "rename", "ci", "build").stdout
    assert said == "Renamed SSH key ci to build\n"
    said = user("compute", "ssh-keys", "set-default", "build").stdout
    assert said == "build is now your default SSH key\n"
    assert [k["name"] for k in user.json("compute", "ssh-keys", "list") if k["default"]] == [
        "build"
    ]
    # deleting asks for the name unless --yes; the wrong name deletes nothing
    user("compute", "ssh-keys", "delete", "build", code=2, stdin="laptop\n")
    said = user("compute", "ssh-keys", "delete", "build", stdin="build\n").stdout
    assert "Deleted SSH key build\n" in said
    assert "laptop is now your default SSH key (the oldest remaining)\n" in said
    gone = user.json("compute", "ssh-keys", "delete", "spare", "--yes")
    assert gone["name"] == "spare" and gone["new_default"] is None
    assert [k["name"] for k in user.json("compute", "ssh-keys", "list")] == ["laptop"]


def test_errors_exit_with_their_code_and_a_private_key_is_never_sent(
    server: LiveServer, user: Dcp, tmp_path: Path
) -> None:
    pair = keygen(tmp_path / "keys", "ed25519")
    said = user.fails(
        6, "compute", "ssh-keys", "add", "--name", "oops", "--public-key-file", str(pair.private)
    )
    assert "is a PRIVATE key" in said and "nothing was sent" in said
    assert f"(the public key is {pair.private}.pub)" in said
    assert user.json("compute", "ssh-keys", "list") == []
    log = server.data_dir.parent / f"server-{server.s3_port}.log"
    body = pair.private_text.splitlines()[1]
    assert body.encode() not in log.read_bytes()
    said = user.fails(
        6,
        "compute",
        "ssh-keys",
        "add",
        "--name",
        "x",
        "--public-key-file",
        str(tmp_path / "missing.pub"),
    )
    assert "cannot read" in said
    weak = keygen(tmp_path / "keys", "rsa", 1024)
    said = user.fails(
        6, "compute", "ssh-keys", "add", "--name", "weak", "--public-key-file", str(weak.public)
    )
    assert "1024 bits" in said
    user("compute", "ssh-keys", "add", "--name", "laptop", "--public-key-file", str(pair.public))
    said = user.fails(
        5, "compute", "ssh-keys", "add", "--name", "again", "--public-key-file", str(pair.public)
    )
    assert "named 'laptop'" in said
    assert "no SSH key named 'nothing'" in user.fails(4, "compute", "ssh-keys", "show", "nothing")
    user.fails(4, "compute", "ssh-keys", "delete", "nothing", "--yes")
