"""The databases' certificate authority and each server's certificate.

Clients verify the server (``sslmode=verify-full``) against the installation's CA, which
they download from the console or ``dcp databases ca``. The CA's key is kept sealed with
the master key; a server's key lives with its data, readable by the postgres user alone,
as PostgreSQL requires.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_YEARS = 10
SERVER_DAYS = 397  # what browsers and most clients accept for a leaf; renewed at start-up
RENEW_DAYS = 30


@dataclass(frozen=True, slots=True)
class Authority:
    """The CA: its certificate (public) and key (PEM, to be sealed at rest)."""

    certificate_pem: str
    key_pem: str


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    certificate_pem: str
    key_pem: str


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_authority(installation: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"Nexq Databases CA ({installation})")]
    )
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(_pem(certificate), _key_pem(key))


def issue_server(authority: Authority, hosts: list[str], common_name: str) -> ServerCertificate:
    """A server certificate for ``hosts`` (names or addresses), signed by ``authority``."""
    ca_certificate = x509.load_pem_x509_certificate(authority.certificate_pem.encode())
    ca_key = serialization.load_pem_private_key(authority.key_pem.encode(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            names.append(x509.DNSName(host))
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ServerCertificate(_pem(certificate), _key_pem(key))


def needs_renewal(certificate_pem: str, hosts: list[str]) -> bool:
    """Whether a server certificate expires soon or no longer names every host."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    if certificate.not_valid_after_utc - _now() < datetime.timedelta(days=RENEW_DAYS):
        return True
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(n) for n in names.get_values_for_type(x509.DNSName)} | {
        str(a) for a in names.get_values_for_type(x509.IPAddress)
    }
    return not {h.strip("[]") for h in hosts} <= have


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
