"""/v1/compute/ssh-keys against a live server: the JSON shapes, the default key's rules, the
problems that name what was wrong, another account's keys out of reach, the tier's limit,
and a pasted private key refused and kept nowhere (not in the database, not in the log)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import api, assert_problem
from tests.compute.conftest import customer
from tests.compute.keys import KeyPair, keygen, keygen_lf
from tests.live import LiveServer

KEYS = "/v1/compute/ssh-keys"


def test_add_list_show_rename_default_delete(client: httpx.Client, pairs: list[KeyPair]) -> None:
    assert client.get(KEYS).json() == []
    made = client.post(KEYS, json={"name": "laptop", "public_key": pairs[0].public_text})
    assert made.status_code == 201, made.text
    laptop = made.json()
    bits, fingerprint, comment, kind = keygen_lf(pairs[0].public).split()
    assert laptop == {
        "id": laptop["id"],
        "name": "laptop",
        "fingerprint": fingerprint,
        "type": "ED25519",
        "bits": int(bits),
        "comment": comment,
        "public_key": pairs[0].public_text.strip(),
        "default": True,  # the first key
        "created_at": laptop["created_at"],
    }
    assert kind == "(ED25519)" and laptop["created_at"].endswith("Z")
    ci = client.post(KEYS, json={"name": "ci", "public_key": pairs[1].public_text}).json()
    spare = client.post(KEYS, json={"name": "spare", "public_key": pairs[2].public_text}).json()
    assert (ci["type"], ci["bits"], ci["default"]) == ("RSA", 3072, False)
    assert (spare["type"], spare["bits"], spare["comment"]) == ("ECDSA", 384, "")
    assert [k["name"] for k in client.get(KEYS).json()] == ["laptop", "ci", "spare"]
    assert client.get(f"{KEYS}/{ci['id']}").json() == ci

    changed = client.patch(f"{KEYS}/{ci['id']}", json={"name": "build", "default": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["default"]) == ("build", True)
    listed = {k["name"]: k["default"] for k in client.get(KEYS).json()}
    assert listed == {"laptop": False, "build": True, "spare": False}

    # Deleting the default: the oldest remaining key becomes it, and the answer says so.
    gone = client.delete(f"{KEYS}/{ci['id']}")
    assert gone.status_code == 200, gone.text
    assert gone.json()["name"] == "build"
    assert gone.json()["new_default"]["id"] == laptop["id"]
    assert gone.json()["new_default"]["default"] is True
    assert client.delete(f"{KEYS}/{spare['id']}").json()["new_default"] is None
    assert_problem(client.get(f"{KEYS}/{ci['id']}"), 404, "not-found")
    assert [(k["name"], k["default"]) for k in client.get(KEYS).json()] == [("laptop", True)]


def test_problems_name_what_was_wrong(client: httpx.Client, pairs: list[KeyPair]) -> None:
    made = client.post(KEYS, json={"name": "laptop", "public_key": pairs[0].public_text}).json()
    same_name = client.post(KEYS, json={"name": "laptop", "public_key": pairs[1].public_text})
    assert "named 'laptop' already" in str(assert_problem(same_name, 409, "conflict")["detail"])
    same_key = client.post(KEYS, json={"name": "again", "public_key": pairs[0].public_text})
    detail = str(assert_problem(same_key, 409, "conflict")["detail"])
    assert made["fingerprint"] in detail and "named 'laptop'" in detail
    dsa = "ssh-dss AAAAB3NzaC1kc3MAAACBAP ada@old"
    assert "DSA keys are insecure" in str(
        assert_problem(client.post(KEYS, json={"name": "old", "public_key": dsa}), 400, "invalid")[
            "detail"
        ]
    )
    garbage = client.post(KEYS, json={"name": "x", "public_key": "hello"})
    assert "not accepted" in str(assert_problem(garbage, 400, "invalid")["detail"])
    no_default = client.patch(f"{KEYS}/{made['id']}", json={"default": False})
    assert "set another key as the default" in str(
        assert_problem(no_default, 400, "invalid")["detail"]
    )
    taken = client.post(KEYS, json={"name": "desk", "public_key": pairs[1].public_text}).json()
    rename = client.patch(f"{KEYS}/{taken['id']}", json={"name": "laptop"})
    assert_problem(rename, 409, "conflict")
    assert_problem(client.patch(f"{KEYS}/nothing", json={"name": "y"}), 404, "not-found")
    assert_problem(client.delete(f"{KEYS}/nothing"), 404, "not-found")
    missing = client.post(KEYS, json={"name": "x"})
    assert "public_key" in str(assert_problem(missing, 422, "validation")["detail"])


def test_a_private_key_is_refused_and_kept_nowhere(
    server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    pair = keygen(tmp_path, "ed25519")
    pem = keygen(tmp_path, "rsa", 2048, "ada", "-m", "PEM")
    for private in (pair.private_text, pem.private_text):
        refused = client.post(KEYS, json={"name": "oops", "public_key": private})
        detail = str(assert_problem(refused, 400, "invalid")["detail"])
        assert "PRIVATE key" in detail and "Never upload or share a private key" in detail
        assert "BEGIN" not in detail
    assert client.get(KEYS).json() == []
    log = server.data_dir.parent / f"server-{server.s3_port}.log"
    kept = server.stored_bytes() + log.read_bytes()
    for private in (pair.private_text, pem.private_text):
        for line in private.splitlines()[1:-1]:
            assert line.encode() not in kept, "a line of the private key was kept"


def test_another_account_cannot_see_or_touch_the_keys(
    server: LiveServer, client: httpx.Client, pairs: list[KeyPair]
) -> None:
    mine = client.post(KEYS, json={"name": "laptop", "public_key": pairs[0].public_text}).json()
    with api(server, server.api_key(customer(server))) as other:
        assert other.get(KEYS).json() == []
        assert_problem(other.get(f"{KEYS}/{mine['id']}"), 404, "not-found")
        assert_problem(other.patch(f"{KEYS}/{mine['id']}", json={"name": "x"}), 404, "not-found")
        patch = other.patch(f"{KEYS}/{mine['id']}", json={"default": True})
        assert_problem(patch, 404, "not-found")
        assert_problem(other.delete(f"{KEYS}/{mine['id']}"), 404, "not-found")
        # the same public key, in an account of its own, is that account's key
        theirs = other.post(KEYS, json={"name": "laptop", "public_key": pairs[0].public_text})
        assert theirs.status_code == 201 and theirs.json()["default"] is True
    assert client.get(f"{KEYS}/{mine['id']}").json() == mine


def test_reading_needs_compute_read_and_changing_compute_write(
    server: LiveServer, pairs: list[KeyPair]
) -> None:
    email = customer(server)
    with api(server, server.api_key(email, "reader", ("compute:read",))) as reader:
        assert reader.get(KEYS).status_code == 200
        made = reader.post(KEYS, json={"name": "x", "public_key": pairs[0].public_text})
        assert assert_problem(made, 403, "missing-scope")["scope"] == "compute:write"
    with api(server, server.api_key(email, "storage", ("storage:read",))) as other:
        assert assert_problem(other.get(KEYS), 403, "missing-scope")["scope"] == "compute:read"


def test_the_tiers_ssh_keys_limit(server: LiveServer, pairs: list[KeyPair]) -> None:
    email = customer(server, ssh_keys=2)
    with api(server, server.api_key(email)) as client:
        for n, pair in enumerate(pairs[:2]):
            made = client.post(KEYS, json={"name": f"k{n}", "public_key": pair.public_text})
            assert made.status_code == 201, made.text
        refused = client.post(KEYS, json={"name": "k3", "public_key": pairs[2].public_text})
        body = assert_problem(refused, 403, "quota-exceeded")
        assert body["limit"] == "ssh_keys" and "ssh_keys limit" in str(body["detail"])
        lines = {line["name"]: line for line in client.get("/v1/account/limits").json()["limits"]}
        assert (lines["ssh_keys"]["used"], lines["ssh_keys"]["limit"]) == (2, 2)
        assert lines["ssh_keys"]["service"] == "compute"
