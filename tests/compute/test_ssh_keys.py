"""The use cases of SSH keys, without a server: real keys from ssh-keygen, the store in
memory (tests/contract holds the stores to the same rules on both SQL engines)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from nexq.compute.errors import NoSuchSshKey, SshKeyAdded, SshKeyNameTaken
from nexq.compute.memory import MemorySshKeys
from nexq.compute.model import SSH_KEYS_LIMIT
from nexq.compute.ssh_keys import SshKeys
from nexq.core.errors import Invalid, QuotaExceeded
from nexq.core.identity import Account, Principal
from tests.compute.keys import KeyPair, keygen, keygen_lf

ADA = Principal(Account("acc-ada", "ada@example.com", "customer", "active", 0.0), frozenset())
BOB = Principal(Account("acc-bob", "bob@example.com", "customer", "active", 0.0), frozenset())


class Quotas:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def limit(self, account_id: str, name: str) -> int | None:
        return self.values.get(name)


@pytest.fixture
def quotas() -> Quotas:
    return Quotas()


@pytest.fixture
def ssh_keys(quotas: Quotas) -> SshKeys:
    ticks = itertools.count(1000)
    return SshKeys(MemorySshKeys(), quotas, clock=lambda: float(next(ticks)))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> list[KeyPair]:
    folder = tmp_path_factory.mktemp("keys")
    return [
        keygen(folder / "a", "ed25519"),
        keygen(folder / "b", "rsa", 3072, "ci@build"),
        keygen(folder / "c", "ecdsa", 256, ""),
        keygen(folder / "d", "ed25519", comment="spare"),
    ]


def test_add_shows_what_ssh_keygen_shows(ssh_keys: SshKeys, pairs: list[KeyPair]) -> None:
    for n, pair in enumerate(pairs[:3]):
        made = ssh_keys.add(ADA, f"  key {n} ", pair.public_text)
        assert made.name == f"key {n}"
        assert made.fingerprint_line == keygen_lf(pair.public)
        assert made.default == (n == 0)
    assert [k.name for k in ssh_keys.all(ADA)] == ["key 0", "key 1", "key 2"]
    assert ssh_keys.default_of(ADA.account.id) == ssh_keys.all(ADA)[0]
    assert ssh_keys.count(ADA.account.id) == 3


def test_names_and_keys_are_the_accounts_own(ssh_keys: SshKeys, pairs: list[KeyPair]) -> None:
    laptop = ssh_keys.add(ADA, "laptop", pairs[0].public_text)
    with pytest.raises(SshKeyNameTaken, match="'laptop'"):
        ssh_keys.add(ADA, "laptop", pairs[1].public_text)
    # The same key again (another comment does not make it another key): named.
    other_comment = " ".join(pairs[0].public_text.split()[:2]) + " renamed@laptop"
    with pytest.raises(SshKeyAdded, match=f"{re.escape(laptop.fingerprint)}.*named 'laptop'"):
        ssh_keys.add(ADA, "again", other_comment)
    # Bob may hold the same key under the same name; neither sees the other's.
    bobs = ssh_keys.add(BOB, "laptop", pairs[0].public_text)
    assert bobs.default and [k.id for k in ssh_keys.all(BOB)] == [bobs.id]
    for action in (
        lambda: ssh_keys.get(BOB, laptop.id),
        lambda: ssh_keys.rename(BOB, laptop.id, "mine"),
        lambda: ssh_keys.set_default(BOB, laptop.id),
        lambda: ssh_keys.change(BOB, laptop.id, default=True),
        lambda: ssh_keys.delete(BOB, laptop.id),
    ):
        with pytest.raises(NoSuchSshKey):
            action()
    assert ssh_keys.get(ADA, laptop.id) == laptop


def test_names_are_checked(ssh_keys: SshKeys, pairs: list[KeyPair]) -> None:
    for bad, why in (("   ", "1 to 64"), ("x" * 65, "1 to 64"), ("tab\there", "control")):
        with pytest.raises(Invalid, match=why):
            ssh_keys.add(ADA, bad, pairs[0].public_text)
    assert ssh_keys.all(ADA) == []


def test_default_rename_and_delete(ssh_keys: SshKeys, pairs: list[KeyPair]) -> None:
    a, b, c = (ssh_keys.add(ADA, n, p.public_text) for n, p in zip("abc", pairs, strict=False))
    assert ssh_keys.set_default(ADA, c.id).default
    assert [k.name for k in ssh_keys.all(ADA) if k.default] == ["c"]
    renamed = ssh_keys.change(ADA, c.id, name="laptop", default=True)
    assert (renamed.name, renamed.default) == ("laptop", True)
    assert ssh_keys.change(ADA, b.id).name == "b"  # nothing asked, nothing changed
    with pytest.raises(Invalid, match="set another key as the default"):
        ssh_keys.change(ADA, c.id, default=False)
    assert ssh_keys.rename(ADA, b.id, "build").name == "build"
    with pytest.raises(SshKeyNameTaken):
        ssh_keys.rename(ADA, b.id, "laptop")
    gone = ssh_keys.delete(ADA, c.id)
    assert gone.key.name == "laptop" and gone.new_default is not None
    assert gone.new_default.id == a.id  # the oldest remaining
    assert ssh_keys.delete(ADA, b.id).new_default is None  # b was not the default
    assert ssh_keys.delete(ADA, a.id).new_default is None  # the last key
    assert ssh_keys.default_of(ADA.account.id) is None
    with pytest.raises(NoSuchSshKey):
        ssh_keys.get(ADA, a.id)


def test_the_tier_limit_is_enforced_naming_it(
    ssh_keys: SshKeys, quotas: Quotas, pairs: list[KeyPair]
) -> None:
    quotas.values[SSH_KEYS_LIMIT] = 2
    ssh_keys.add(ADA, "one", pairs[0].public_text)
    ssh_keys.add(ADA, "two", pairs[1].public_text)
    with pytest.raises(QuotaExceeded, match="ssh_keys limit") as refused:
        ssh_keys.add(ADA, "three", pairs[2].public_text)
    assert refused.value.limit == SSH_KEYS_LIMIT
    ssh_keys.add(BOB, "three", pairs[2].public_text)  # per account


def test_a_private_key_is_refused_before_the_store_sees_it(
    ssh_keys: SshKeys, pairs: list[KeyPair], tmp_path: Path
) -> None:
    with pytest.raises(Invalid, match="PRIVATE key"):
        ssh_keys.add(ADA, "oops", pairs[0].private_text)
    assert ssh_keys.all(ADA) == []
