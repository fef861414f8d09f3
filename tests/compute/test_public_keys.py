"""Public keys as users paste them: the fingerprint is ``ssh-keygen -lf``'s, the kinds OpenSSH
no longer trusts are refused naming why, and a private key is refused with a warning."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nexq.compute.public_keys import PRIVATE_KEY_WARNING, parse_public_key
from nexq.core.errors import Invalid
from tests.compat.tools import require
from tests.compute.keys import keygen, keygen_lf, security_key_line


@pytest.mark.parametrize(
    ("kind", "bits"),
    [
        ("ed25519", None),
        ("rsa", 2048),
        ("rsa", 3072),
        ("ecdsa", 256),
        ("ecdsa", 384),
        ("ecdsa", 521),
    ],
)
def test_the_fingerprint_line_is_ssh_keygens(tmp_path: Path, kind: str, bits: int | None) -> None:
    pair = keygen(tmp_path, kind, bits)
    parsed = parse_public_key(pair.public_text)
    assert parsed.fingerprint_line == keygen_lf(pair.public)
    shown_bits, fingerprint, *_, kind_shown = keygen_lf(pair.public).split()
    assert (parsed.bits, parsed.fingerprint, f"({parsed.kind})") == (
        int(shown_bits),
        fingerprint,
        kind_shown,
    )
    # The key kept is the key given: OpenSSH reads the same key (and fingerprint) from it.
    kept = tmp_path / "kept.pub"
    kept.write_text(parsed.text + "\n")
    assert keygen_lf(kept) == keygen_lf(pair.public)


def test_a_key_without_comment_and_with_spaces_around(tmp_path: Path) -> None:
    pair = keygen(tmp_path, "ed25519", comment="")
    parsed = parse_public_key(f"\n  {pair.public_text.strip()}  \n\n")
    assert parsed.comment == ""
    assert parsed.fingerprint_line == keygen_lf(pair.public)
    assert parsed.fingerprint_line.endswith(" no comment (ED25519)")
    spaced = parse_public_key(pair.public_text.strip() + " work  laptop ")
    assert spaced.comment == "work laptop"
    assert spaced.fingerprint == parsed.fingerprint


def refusal(text: str) -> str:
    with pytest.raises(Invalid) as refused:
        parse_public_key(text)
    return refused.value.message


def test_small_rsa_dsa_security_keys_and_certificates_are_refused_naming_why(
    tmp_path: Path,
) -> None:
    small = keygen(tmp_path, "rsa", 1024)
    assert "1024 bits" in refusal(small.public_text)
    assert "2048" in refusal(small.public_text)
    dsa = keygen(tmp_path, "dsa")
    assert "ssh-dss is not accepted: DSA keys are insecure" in refusal(dsa.public_text)
    assert "security-key (FIDO/U2F)" in refusal(security_key_line())
    # A certificate signed by a CA of the user's.
    ca = keygen(tmp_path / "ca", "ed25519", comment="ca")
    user = keygen(tmp_path / "user", "ed25519")
    subprocess.run(
        [
            require("ssh-keygen"),
            "-q",
            "-s",
            str(ca.private),
            "-I",
            "ada",
            "-n",
            "ada",
            str(user.public),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    certificate = user.public.with_name(user.public.name.replace(".pub", "-cert.pub"))
    assert "an SSH certificate, not a public key" in refusal(certificate.read_text())
    assert "ssh-xyz keys are not accepted" in refusal("ssh-xyz AAAA ada")


def test_damaged_or_mangled_text_is_refused_naming_what_is_wrong(tmp_path: Path) -> None:
    pair = keygen(tmp_path, "ed25519")
    kind, data, comment = pair.public_text.split()
    assert "paste a public key" in refusal("  \n ")
    assert "one key at a time" in refusal(pair.public_text + pair.public_text)
    assert "not valid base64" in refusal(f"{kind} {data[:-3]}!!! {comment}")
    assert "damaged" in refusal(f"{kind} {data[:40]} {comment}")
    assert "has no key data" in refusal(kind)
    assert "without authorized_keys options" in refusal(f'from="10.0.0.1" {pair.public_text}')
    # The type says one kind, the data holds another.
    rsa = keygen(tmp_path, "rsa", 2048)
    assert "damaged" in refusal(f"ssh-ed25519 {rsa.public_text.split()[1]} {comment}")
    pem = subprocess.run(  # ssh-keygen exports RSA and ECDSA keys as PEM, not Ed25519
        [require("ssh-keygen"), "-e", "-m", "PKCS8", "-f", str(rsa.public)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "PEM or SSH2-format public key" in refusal(pem)
    rfc4716 = subprocess.run(
        [require("ssh-keygen"), "-e", "-f", str(pair.public)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "ssh-keygen -i -f" in refusal(rfc4716)


@pytest.mark.parametrize("form", ["openssh", "pem", "pkcs8", "bare"])
def test_a_private_key_is_refused_with_the_warning_and_not_echoed(
    tmp_path: Path, form: str
) -> None:
    if form == "openssh":
        text = keygen(tmp_path, "ed25519").private_text
    elif form == "pem":
        text = keygen(tmp_path, "rsa", 2048, "ada", "-m", "PEM").private_text
        assert "BEGIN RSA PRIVATE KEY" in text
    elif form == "pkcs8":
        text = keygen(tmp_path, "ecdsa", 256, "ada", "-m", "PKCS8").private_text
        assert "BEGIN PRIVATE KEY" in text
    else:  # the body of an OpenSSH private key, its armour lines left out
        text = "".join(keygen(tmp_path, "ed25519").private_text.splitlines()[1:-1])
    message = refusal(text)
    assert message == PRIVATE_KEY_WARNING
    assert "Never upload or share a private key" in message
    body = [line for line in text.splitlines() if "-----" not in line]
    assert not any(line[:20] in message for line in body)
