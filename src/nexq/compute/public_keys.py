"""OpenSSH public keys as users paste them: checked, and fingerprinted as ``ssh-keygen -lf``
prints them.

The key itself is parsed by ``cryptography``; this module only decides which kinds are
accepted and says why the others are not. A private key pasted by mistake is refused
before anything else looks at it, and its text is never put in an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import warnings
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from nexq.core.errors import Invalid

MAX_TEXT = 16_384  # an RSA key of 16,384 bits, OpenSSH's largest, is about 2,800 characters
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16_384  # OpenSSH refuses larger RSA keys
MAX_COMMENT = 255
# What each accepted key type is called in ``ssh-keygen -lf`` output.
ACCEPTED = {
    "ssh-ed25519": "ED25519",
    "ssh-rsa": "RSA",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
}
PRIVATE_KEY_WARNING = (
    "public_key: this is a PRIVATE key. Never upload or share a private key: it is the "
    "secret that proves who you are. Nothing was stored. Paste the PUBLIC key instead: the "
    "one line of the .pub file (e.g. ~/.ssh/id_ed25519.pub), starting with ssh-ed25519, "
    "ssh-rsa or ecdsa-sha2-. If this private key was shared anywhere, make a new key pair."
)
# The shapes a private key comes in: PEM and PKCS#8 (``-----BEGIN … PRIVATE KEY-----``,
# including OpenSSH's own and encrypted ones), OpenSSH's body without its armour (its magic
# "openssh-key-v1" in base64), and PuTTY's .ppk files.
_PRIVATE = re.compile(r"BEGIN [A-Z0-9 ]*PRIVATE KEY|b3BlbnNzaC1rZXktdjE|PuTTY-User-Key-File")
_TYPE = re.compile(r"^[A-Za-z0-9@._+-]{1,64}$")
_WHY_NOT = (
    (
        re.compile(r"^ssh-dss$"),
        "DSA keys are insecure and refused by current OpenSSH servers; make an Ed25519 key "
        "with: ssh-keygen -t ed25519",
    ),
    (
        re.compile(r"^sk-"),
        "security-key (FIDO/U2F) keys need the hardware key present at every login and are "
        "not supported; use an Ed25519, ECDSA or RSA key",
    ),
    (
        re.compile(r"-cert-v0\d@openssh\.com$"),
        "this is an SSH certificate, not a public key; paste the .pub file of the key itself",
    ),
)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A checked OpenSSH public key."""

    text: str  # "ssh-ed25519 AAAA… comment": the key as OpenSSH writes it
    kind: str  # ED25519, RSA or ECDSA, as ssh-keygen names it
    bits: int
    fingerprint: str  # "SHA256:…", as ssh-keygen prints it
    comment: str

    @property
    def fingerprint_line(self) -> str:
        """What ``ssh-keygen -lf`` prints for this key."""
        return fingerprint_line(self.bits, self.fingerprint, self.comment, self.kind)


def fingerprint_line(bits: int, fingerprint: str, comment: str, kind: str) -> str:
    """``256 SHA256:… ada@laptop (ED25519)``: ``ssh-keygen -lf``'s line."""
    return f"{bits} {fingerprint} {comment or 'no comment'} ({kind})"


def parse_public_key(text: str) -> PublicKey:
    """The key in ``text`` (one OpenSSH public key line); Invalid naming what is wrong.

    Accepted: Ed25519, ECDSA (nistp256, nistp384, nistp521) and RSA of 2,048 bits or more.
    """
    if _PRIVATE.search(text):
        raise Invalid(PRIVATE_KEY_WARNING)
    if len(text) > MAX_TEXT:
        raise Invalid(f"public_key: at most {MAX_TEXT} characters; paste one public key.")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise Invalid("public_key: paste a public key (the line of your .pub file).")
    if lines[0].startswith("-----BEGIN") or lines[0].startswith("---- BEGIN"):
        raise Invalid(
            "public_key: this is a PEM or SSH2-format public key; paste it in OpenSSH format "
            "(convert it with: ssh-keygen -i -f KEYFILE)."
        )
    if len(lines) > 1:
        raise Invalid("public_key: one key at a time (the text has several lines).")
    fields = lines[0].split(None, 2)
    kind = fields[0]
    if not _TYPE.match(kind):
        raise Invalid(
            "public_key: the line must start with the key type (ssh-ed25519, ssh-rsa or "
            "ecdsa-sha2-nistp256/384/521); paste the key without authorized_keys options."
        )
    for pattern, reason in _WHY_NOT:
        if pattern.search(kind):
            raise Invalid(f"public_key: {kind} is not accepted: {reason}.")
    if kind not in ACCEPTED:
        raise Invalid(
            f"public_key: {kind} keys are not accepted; use ssh-ed25519, ssh-rsa (2048 bits "
            "or more) or ecdsa-sha2-nistp256/384/521."
        )
    if len(fields) < 2:
        raise Invalid(f"public_key: the {kind} key has no key data after its type.")
    comment = " ".join(fields[2].split()) if len(fields) > 2 else ""
    if len(comment) > MAX_COMMENT:
        raise Invalid(f"public_key: the comment is longer than {MAX_COMMENT} characters.")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"public_key: the {kind} key data is not valid base64.") from None
    key = _load(kind, fields[1])
    bits = _bits(key)
    if isinstance(key, rsa.RSAPublicKey) and not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
        raise Invalid(
            f"public_key: this RSA key has {bits} bits; RSA keys need {MIN_RSA_BITS} to "
            f"{MAX_RSA_BITS} bits (make one with: ssh-keygen -t ed25519, or -t rsa -b 3072)."
        )
    canonical = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    if base64.b64decode(canonical.split()[1]) != blob:
        # Trailing or padded fields that a strict OpenSSH would read otherwise: the
        # fingerprint shown would not be the one ssh-keygen shows.
        raise Invalid(f"public_key: the {kind} key data is malformed (it has extra bytes).")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    line = canonical.decode() + (f" {comment}" if comment else "")
    return PublicKey(line, ACCEPTED[kind], bits, f"SHA256:{digest}", comment)


def _load(
    kind: str, data: str
) -> ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecations of kinds refused before this
            key = serialization.load_ssh_public_key(f"{kind} {data}".encode())
    except (ValueError, UnsupportedAlgorithm):
        raise Invalid(
            f"public_key: the {kind} key data is damaged (copy the whole line of the .pub file)."
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise Invalid(f"public_key: {kind} keys are not accepted.")
    return key


def _bits(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey) -> int:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 256
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else key.curve.key_size
