"""The REST authorization matrix, generated from the running server's own routes.

Every operation of ``/v1/openapi.json`` is one row; its ``security`` (produced from the very
dependencies that enforce the scopes) says which scopes it needs, and each column is a kind
of caller whose expected answer follows from that alone:

- ``none``: no token (401); ``revoked``: a revoked key holding every scope (401);
- ``wrong``: keys holding every scope of the account except what the route needs (403
  missing-scope), one per needed scope when a route needs several;
- ``right``: keys holding exactly what one alternative of ``security`` names (2xx);
- ``other``: every scope, but of another account, on this account's resources (404 for a
  resource, this account's resources absent from a list, or the caller's own account);
- ``suspended``: every scope of a suspended account (403 account-suspended);
- ``narrower``: for routes that act on an API key, a key with ``account:write`` alone on a
  key holding every scope (403 beyond-caller-scopes).

A route without a recipe below fails the test: a new route cannot be left out of the matrix.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from nexq.app import SCOPE_CATALOG
from tests.databases.live_databases import wait_status
from tests.live import LiveServer, nexq
from tests.oci_push import push_image
from tests.reliability.conftest import unthrottled

CUSTOMER_SCOPES = SCOPE_CATALOG.of_role("customer")
OPERATOR_SCOPES = SCOPE_CATALOG.of_role("operator")
PUBLIC = {
    ("POST", "/v1/signup"),
    ("POST", "/v1/login"),
    ("GET", "/v1/health"),
    ("POST", "/v1/account/password-reset"),  # the one-time token is the credential
}
# Routes that change nothing though their method is not GET, or only end the caller's own
# session; every other non-GET route must need :write scopes alone.
READS_BY_POST = {
    ("POST", "/v1/logout"): "ends the session that authenticates it",
    ("POST", "/v1/storage/buckets/{name}/presign"): "signs a URL; a PUT URL needs storage:write",
}
PASSWORD = "correct horse battery"
TICKET = {
    "subject": "Uploads fail",
    "service": "Object Storage",
    "severity": "High",
    "description": "Every PUT answers 503.",
}
CARD = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2031, "holder": "Ada"}
Body = Callable[[dict[str, str]], dict[str, Any] | None]


@dataclass(frozen=True)
class Recipe:
    """How to call a route: the resources its path names, its body, and how another account
    sees it (``404``: the resource is not found; ``hidden``: a list without this account's
    resources; ``own``: the action applies to the caller's own account)."""

    body: Body = lambda ids: None
    other: str = "own"
    operator: bool = False  # an operators' route: the right keys are an operator's
    session: bool = False  # only a session can do it (an API key gets 400)
    files: bool = False  # a multipart/form-data upload with one small file
    # What the right key is answered where not a success: a call that must not take effect
    # (the account's deletion, with a wrong password) proves it passed authorization.
    right: str = "ok"


# A bucket's settings documents, for the routes that put them (and the GETs that read them).
CORS = {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}
LIFECYCLE = {"Rules": [{"Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}]}
WEBSITE = {"IndexDocument": {"Suffix": "index.html"}}
DOCUMENTS = ("policy", "cors", "lifecycle", "website")


def bucket_policy(bucket: str) -> dict[str, Any]:
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/nothing/*",
    }
    return {"Version": "2012-10-17", "Statement": [statement]}


def bucket_body(ids: dict[str, str]) -> dict[str, Any]:
    # Account A's own bucket name for another account (a conflict), else a free name.
    return {"name": ids["name"] if ids.get("caller") == "other" else f"{ids['name']}-new"}


def registry_body(ids: dict[str, str]) -> dict[str, Any]:
    # Registry names are unique per installation, as bucket names are.
    return {"name": ids["name"] if ids.get("caller") == "other" else f"{ids['name']}-new"}


def database_body(ids: dict[str, str]) -> dict[str, Any]:
    # Database names are per account: another account may take this one too.
    return {"name": ids["name"], "plan": "micro"}


def ssh_key_body(ids: dict[str, str]) -> dict[str, Any]:
    # A key of its own each time: a key (or a name) an account has already is a conflict.
    return {"name": f"key-{next(_KEY_NAMES)}", "public_key": fresh_public_key()}


def fresh_public_key() -> str:
    """A new Ed25519 public key, as its .pub file holds it."""
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " authz"


_KEY_NAMES = itertools.count()
SSH_KEY = "/v1/compute/ssh-keys/{key_id}"
INSTANCE = "/v1/compute/instances/{name}"
# Account A's instance that reading, the console and reboot act on (Running before the
# matrix); stop, start and delete each get a fresh one, as they change its state for good.
SHARED_INSTANCE = "authz-shared"
# Account A's stopped instance: the snapshots reverted to and deleted are taken of it (a
# stopped disk is copied at once, and a revert needs the instance stopped).
STOPPED_INSTANCE = "authz-stopped"
# A snapshot and a backup of the shared instance, to read, list and launch from.
SHARED_COPY = "authz-copy"
COPIES = ("/v1/compute/snapshots", "/v1/compute/backups")
REGISTRY = "/v1/registries/{name}"
DATABASE = "/v1/databases/{name}"
# Account A's database that the reading routes, the password reset and Back up now act on:
# made Running before the matrix (a reset and a backup need a running server; fresh ones
# could wait for a port).
SHARED_DATABASE = "authz-shared"
IMAGE = REGISTRY + "/repositories/{repository}"
RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "/v1/logout"): Recipe(session=True),
    ("GET", "/v1/account"): Recipe(),
    ("POST", "/v1/account/password"): Recipe(
        body=lambda ids: {"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("DELETE", "/v1/account"): Recipe(
        body=lambda ids: {"password": "not the password"}, right="400:invalid"
    ),
    ("GET", "/v1/account/limits"): Recipe(),
    ("PUT", "/v1/account/tier"): Recipe(body=lambda ids: {"tier": "enterprise"}),
    ("GET", "/v1/tiers"): Recipe(),
    ("GET", "/v1/api-keys"): Recipe(other="hidden"),
    ("POST", "/v1/api-keys"): Recipe(body=lambda ids: {"name": "made", "scopes": ["account:read"]}),
    ("GET", "/v1/api-keys/{key_id}"): Recipe(other="404"),
    ("DELETE", "/v1/api-keys/{key_id}"): Recipe(other="404"),
    ("POST", "/v1/api-keys/{key_id}/revoke"): Recipe(other="404"),
    ("POST", "/v1/api-keys/{key_id}/regenerate"): Recipe(other="404"),
    ("GET", "/v1/admin/accounts"): Recipe(operator=True),
    ("POST", "/v1/admin/accounts/{account_id}/suspend"): Recipe(operator=True),
    ("POST", "/v1/admin/accounts/{account_id}/resume"): Recipe(operator=True),
    ("GET", "/v1/storage"): Recipe(),
    ("GET", "/v1/storage/buckets"): Recipe(other="hidden"),
    ("POST", "/v1/storage/buckets"): Recipe(body=bucket_body),
    ("GET", "/v1/storage/buckets/{name}"): Recipe(other="404"),
    ("DELETE", "/v1/storage/buckets/{name}"): Recipe(other="404"),
    ("GET", "/v1/storage/buckets/{name}/objects"): Recipe(other="404"),
    ("DELETE", "/v1/storage/buckets/{name}/objects/{key}"): Recipe(other="404"),
    ("POST", "/v1/storage/buckets/{name}/presign"): Recipe(
        body=lambda ids: {"key": "o"}, other="404"
    ),
    ("POST", "/v1/storage/share-links/revoke"): Recipe(),
    ("GET", "/v1/storage/buckets/{name}/versions"): Recipe(other="404"),
    ("POST", "/v1/storage/buckets/{name}/empty"): Recipe(other="404"),
    ("GET", "/v1/storage/buckets/{name}/empty"): Recipe(other="404"),
    ("POST", "/v1/storage/buckets/{name}/objects/{key}/restore"): Recipe(
        body=lambda ids: {"version_id": "null"}, other="404"
    ),
    ("GET", "/v1/storage/buckets/{name}/versioning"): Recipe(other="404"),
    ("PUT", "/v1/storage/buckets/{name}/versioning"): Recipe(
        body=lambda ids: {"status": "Enabled"}, other="404"
    ),
    ("GET", "/v1/storage/buckets/{name}/policy"): Recipe(other="404"),
    ("PUT", "/v1/storage/buckets/{name}/policy"): Recipe(
        body=lambda ids: bucket_policy(ids["name"]), other="404"
    ),
    ("DELETE", "/v1/storage/buckets/{name}/policy"): Recipe(other="404"),
    ("GET", "/v1/storage/buckets/{name}/cors"): Recipe(other="404"),
    ("PUT", "/v1/storage/buckets/{name}/cors"): Recipe(body=lambda ids: CORS, other="404"),
    ("DELETE", "/v1/storage/buckets/{name}/cors"): Recipe(other="404"),
    ("GET", "/v1/storage/buckets/{name}/website"): Recipe(other="404"),
    ("PUT", "/v1/storage/buckets/{name}/website"): Recipe(body=lambda ids: WEBSITE, other="404"),
    ("DELETE", "/v1/storage/buckets/{name}/website"): Recipe(other="404"),
    ("GET", "/v1/storage/buckets/{name}/lifecycle"): Recipe(other="404"),
    ("PUT", "/v1/storage/buckets/{name}/lifecycle"): Recipe(
        body=lambda ids: LIFECYCLE, other="404"
    ),
    ("DELETE", "/v1/storage/buckets/{name}/lifecycle"): Recipe(other="404"),
    ("GET", "/v1/storage/buckets/{name}/tags"): Recipe(other="404"),
    ("PUT", "/v1/storage/buckets/{name}/tags"): Recipe(
        body=lambda ids: {"tags": {"k": "v"}}, other="404"
    ),
    ("DELETE", "/v1/storage/buckets/{name}/tags"): Recipe(other="404"),
    ("GET", "/v1/storage/buckets/{name}/public-access-block"): Recipe(other="404"),
    ("PUT", "/v1/storage/buckets/{name}/public-access-block"): Recipe(
        body=lambda ids: {"block_public_policy": True}, other="404"
    ),
    ("DELETE", "/v1/storage/buckets/{name}/public-access-block"): Recipe(other="404"),
    ("GET", "/v1/storage/buckets/{name}/encryption"): Recipe(other="404"),
    ("PUT", "/v1/storage/buckets/{name}/encryption"): Recipe(
        body=lambda ids: {"algorithm": "aws:kms"}, other="404"
    ),
    ("DELETE", "/v1/storage/buckets/{name}/encryption"): Recipe(other="404"),
    ("GET", "/v1/storage/kms-keys"): Recipe(other="hidden"),
    ("POST", "/v1/storage/kms-keys"): Recipe(body=lambda ids: {"description": "made"}),
    ("GET", "/v1/storage/kms-keys/{key_id}"): Recipe(other="404"),
    ("POST", "/v1/storage/kms-keys/{key_id}/disable"): Recipe(other="404"),
    ("POST", "/v1/storage/kms-keys/{key_id}/enable"): Recipe(other="404"),
    ("GET", "/v1/storage/buckets/{name}/object-lock"): Recipe(other="404"),
    ("PUT", "/v1/storage/buckets/{name}/object-lock"): Recipe(
        body=lambda ids: {"mode": "GOVERNANCE", "days": 1}, other="404"
    ),
    ("GET", "/v1/storage/access-keys"): Recipe(other="hidden"),
    ("POST", "/v1/storage/access-keys"): Recipe(body=lambda ids: {"label": "made"}),
    ("POST", "/v1/storage/access-keys/{key_id}/revoke"): Recipe(other="404"),
    ("DELETE", "/v1/storage/access-keys/{key_id}"): Recipe(other="404"),
    ("GET", "/v1/storage/usage"): Recipe(),
    ("GET", "/v1/billing/estimate"): Recipe(),
    ("GET", "/v1/billing/costs"): Recipe(),
    ("GET", "/v1/billing/invoices"): Recipe(other="hidden"),
    ("GET", "/v1/billing/invoices/{invoice_id}"): Recipe(other="404"),
    ("GET", "/v1/billing/invoices/{invoice_id}/pdf"): Recipe(other="404"),
    ("GET", "/v1/billing/payment-methods"): Recipe(other="hidden"),
    ("POST", "/v1/billing/payment-methods"): Recipe(body=lambda ids: CARD),
    ("PATCH", "/v1/billing/payment-methods/{method_id}"): Recipe(
        body=lambda ids: {"holder": "Grace"}, other="404"
    ),
    ("DELETE", "/v1/billing/payment-methods/{method_id}"): Recipe(other="404"),
    ("POST", "/v1/billing/payment-methods/{method_id}/default"): Recipe(other="404"),
    ("GET", "/v1/billing/budget"): Recipe(),
    ("PUT", "/v1/billing/budget"): Recipe(body=lambda ids: {"amount": "25.00"}),
    ("DELETE", "/v1/billing/budget"): Recipe(),
    ("GET", "/v1/notifications"): Recipe(),
    ("POST", "/v1/notifications/read"): Recipe(),
    ("GET", "/v1/support/plan"): Recipe(),
    ("GET", "/v1/support/services"): Recipe(),
    ("GET", "/v1/support/tickets"): Recipe(other="hidden"),
    ("POST", "/v1/support/tickets"): Recipe(body=lambda ids: TICKET),
    ("GET", "/v1/support/tickets/{ticket_id}"): Recipe(other="404"),
    ("POST", "/v1/support/tickets/{ticket_id}/replies"): Recipe(
        body=lambda ids: {"body": "More detail."}, other="404"
    ),
    ("POST", "/v1/support/tickets/{ticket_id}/attachments"): Recipe(files=True, other="404"),
    ("GET", "/v1/support/tickets/{ticket_id}/attachments/{attachment_id}"): Recipe(other="404"),
    ("POST", "/v1/support/tickets/{ticket_id}/close"): Recipe(other="404"),
    ("POST", "/v1/support/tickets/{ticket_id}/reopen"): Recipe(other="404"),
    ("GET", "/v1/support/queue"): Recipe(operator=True),
    ("POST", "/v1/support/tickets/{ticket_id}/status"): Recipe(
        body=lambda ids: {"status": "Resolved"}, operator=True
    ),
    ("POST", "/v1/support/tickets/{ticket_id}/assignee"): Recipe(
        body=lambda ids: {"assignee": None}, operator=True
    ),
    ("PUT", "/v1/support/accounts/{account_id}/plan"): Recipe(
        body=lambda ids: {"plan": "premium"}, operator=True
    ),
    ("GET", "/v1/registries"): Recipe(other="hidden"),
    ("POST", "/v1/registries"): Recipe(body=registry_body),
    ("GET", REGISTRY): Recipe(other="404"),
    ("DELETE", REGISTRY): Recipe(other="404"),
    ("GET", REGISTRY + "/repositories"): Recipe(other="404"),
    ("GET", IMAGE + "/tags"): Recipe(other="404"),
    ("DELETE", IMAGE): Recipe(other="404"),
    ("DELETE", IMAGE + "/tags/{tag}"): Recipe(other="404"),
    ("DELETE", IMAGE + "/manifests/{digest}"): Recipe(other="404"),
    ("GET", REGISTRY + "/credentials"): Recipe(other="404"),
    ("POST", REGISTRY + "/credentials"): Recipe(
        body=lambda ids: {"label": "ci", "access": "read"}, other="404"
    ),
    ("POST", REGISTRY + "/credentials/{credential_id}/rotate"): Recipe(other="404"),
    ("POST", REGISTRY + "/credentials/{credential_id}/revoke"): Recipe(other="404"),
    ("DELETE", REGISTRY + "/credentials/{credential_id}"): Recipe(other="404"),
    ("GET", "/v1/databases"): Recipe(other="hidden"),
    ("POST", "/v1/databases"): Recipe(body=database_body),
    ("GET", "/v1/databases/plans"): Recipe(),
    ("GET", "/v1/databases/ca"): Recipe(),
    ("GET", DATABASE): Recipe(other="404"),
    ("DELETE", DATABASE): Recipe(other="404"),
    ("POST", DATABASE + "/reset-password"): Recipe(other="404"),
    ("GET", DATABASE + "/nodes"): Recipe(other="404"),
    ("GET", DATABASE + "/backups"): Recipe(other="404"),
    ("POST", DATABASE + "/backups"): Recipe(other="404"),
    ("GET", "/v1/compute/ssh-keys"): Recipe(other="hidden"),
    ("POST", "/v1/compute/ssh-keys"): Recipe(body=ssh_key_body),
    ("GET", SSH_KEY): Recipe(other="404"),
    ("PATCH", SSH_KEY): Recipe(body=lambda ids: {"name": f"renamed-{ids['key_id']}"}, other="404"),
    ("DELETE", SSH_KEY): Recipe(other="404"),
    ("GET", "/v1/compute/sizes"): Recipe(),
    ("GET", "/v1/compute/images"): Recipe(),
    ("GET", "/v1/compute/instances"): Recipe(other="hidden"),
    # Instance names are per account: another account may take this one too.
    ("POST", "/v1/compute/instances"): Recipe(
        body=lambda ids: {"name": ids["name"], "size": "nano"}
    ),
    ("GET", INSTANCE): Recipe(other="404"),
    ("DELETE", INSTANCE): Recipe(other="404"),
    ("GET", INSTANCE + "/console"): Recipe(other="404"),
    ("POST", INSTANCE + "/stop"): Recipe(other="404"),
    ("POST", INSTANCE + "/start"): Recipe(other="404"),
    ("POST", INSTANCE + "/reboot"): Recipe(other="404"),
    ("GET", INSTANCE + "/backup-schedule"): Recipe(other="404"),
    ("PUT", INSTANCE + "/backup-schedule"): Recipe(body=lambda ids: {"keep": 0}, other="404"),
    ("POST", "/v1/compute/snapshots/{name}/revert"): Recipe(other="404"),
    **{
        recipe: value
        for kind in ("snapshots", "backups")
        for recipe, value in {
            ("GET", f"/v1/compute/{kind}"): Recipe(other="hidden"),
            ("POST", f"/v1/compute/instances/{{instance}}/{kind}"): Recipe(
                body=lambda ids: {"name": ids["copy"]}, other="404"
            ),
            ("GET", f"/v1/compute/{kind}/{{name}}"): Recipe(other="404"),
            ("DELETE", f"/v1/compute/{kind}/{{name}}"): Recipe(other="404"),
            ("POST", f"/v1/compute/{kind}/{{name}}/launch"): Recipe(
                body=lambda ids: {"name": ids["launched"], "size": "nano"}, other="404"
            ),
        }.items()
    },
}


@dataclass(frozen=True)
class Cell:
    method: str
    path: str
    caller: str  # the column, with the scopes of its key for wrong/right
    scopes: tuple[str, ...] = ()
    expect: str = "ok"  # ok | 401 | 403:<problem slug> | 404 | hidden | 400


def implied(scope: str) -> set[str]:
    """Scopes that grant ``scope``: itself, and its service's write scope for a read."""
    service, _, level = scope.partition(":")
    return {scope, f"{service}:write"} if level == "read" else {scope}


def cells_of(method: str, path: str, security: list[dict[str, list[str]]]) -> list[Cell]:
    """The row of one route: the expected answer of every column."""
    recipe = RECIPES[(method, path)]
    alternatives = [tuple(req["HTTPBearer"]) for req in security]
    cells = [Cell(method, path, "none", expect="401"), Cell(method, path, "revoked", expect="401")]
    every = OPERATOR_SCOPES if recipe.operator else CUSTOMER_SCOPES
    if any(alternatives):
        # Keys lacking every alternative: one per scope of the (one) alternative that has
        # several, else one without any of them.
        if len(alternatives) == 1 and len(alternatives[0]) > 1:
            lacking = [implied(scope) for scope in alternatives[0]]
        else:
            lacking = [set().union(*(implied(s) for alt in alternatives for s in alt))]
        for missing in lacking:
            held = tuple(s for s in every if s not in missing)
            cells.append(Cell(method, path, "wrong", held, "403:missing-scope"))
    for alternative in alternatives:
        expect = "400" if recipe.session else recipe.right
        cells.append(Cell(method, path, "right", alternative or ("storage:read",), expect))
    if recipe.session:
        cells.append(Cell(method, path, "session", expect="ok"))
    if recipe.operator:
        # Operators act on every account; a customer's widest key lacks the admin scopes.
        cells.append(Cell(method, path, "other", expect="403:missing-scope"))
        return cells
    other = {"404": "404", "hidden": "hidden", "own": recipe.right}[recipe.other]
    if recipe.session:
        other = "400"  # another account's API key is still not a session
    if (method, path) in (("POST", "/v1/storage/buckets"), ("POST", "/v1/registries")):
        other = "409"  # names are global: asking for this account's name is a conflict
    cells.append(Cell(method, path, "other", expect=other))
    cells.append(Cell(method, path, "suspended", expect="403:account-suspended"))
    if path.startswith("/v1/api-keys/{key_id}") and method != "GET":
        cells.append(Cell(method, path, "narrower", ("account:write",), "403:beyond-caller-scopes"))
    return cells


@dataclass
class World:
    """The target account A (every resource is A's), another account B, a suspended
    account C, and an operator."""

    live: LiveServer
    emails: dict[str, str]
    admin: dict[str, httpx.Client] = field(default_factory=dict)  # every-scope key per role
    keys: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count())
    invoice: str = ""

    def token(self, role: str, scopes: tuple[str, ...]) -> str:
        """A key of ``role``'s account with ``scopes`` (made once, through the API)."""
        found = self.keys.get((role, scopes))
        if found is None:
            made = self.admin[role].post(
                "/v1/api-keys", json={"name": f"{role}-{len(self.keys)}", "scopes": list(scopes)}
            )
            assert made.status_code == 201, made.text
            found = self.keys[(role, scopes)] = made.json()["token"]
        return found

    def session(self) -> str:
        with httpx.Client(base_url=self.live.api_url, timeout=30) as anonymous:
            answer = anonymous.post(
                "/v1/login", json={"email": self.emails["a"], "password": PASSWORD}
            )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"])

    def resources(self, method: str, path: str) -> dict[str, str]:
        """Fresh resources of account A for every placeholder of ``path``."""
        api = self.admin["a"]
        n = next(self.counter)
        ids: dict[str, str] = {}
        if path.startswith("/v1/registries"):
            return self.registry_resources(method, path, n)
        if path.startswith("/v1/databases"):
            return self.database_resources(method, path, n)
        if path.startswith(COPIES) or path.endswith(("/snapshots", "/backups")):
            return self.copy_resources(method, path, n)
        if path.startswith("/v1/compute/instances"):
            return self.instance_resources(method, path, n)
        if "{name}" in path:
            ids["name"] = f"authz-{n}"
            # A default retention is set only on a bucket made with Object Lock.
            locked = path.endswith("/object-lock")
            made = {"name": ids["name"], "object_lock": locked}
            api.post("/v1/storage/buckets", json=made).raise_for_status()
        elif method == "POST" and path == "/v1/storage/buckets":
            ids["name"] = f"authz-{n}"  # taken: another account asking for it gets 409
            api.post("/v1/storage/buckets", json={"name": ids["name"]}).raise_for_status()
        if method == "GET" and path.endswith("/empty"):
            # A bucket never emptied has nothing to report (404): start emptying this one.
            api.post(f"/v1/storage/buckets/{ids['name']}/empty").raise_for_status()
        setting = path.rpartition("/")[2]
        if method == "GET" and "{name}" in path and setting in DOCUMENTS:
            # Reading a document the bucket does not have is a 404: give it one.
            made = {
                "policy": bucket_policy(ids["name"]),
                "cors": CORS,
                "lifecycle": LIFECYCLE,
                "website": WEBSITE,
            }
            url = f"/v1/storage/buckets/{ids['name']}/{setting}"
            api.put(url, json=made[setting]).raise_for_status()
        if "{key}" in path:
            url = api.post(
                f"/v1/storage/buckets/{ids['name']}/presign", json={"key": "o", "method": "PUT"}
            ).json()["url"]
            assert httpx.put(url, content=b"o").status_code == 200
            ids["key"] = "o"
        if path.startswith("/v1/api-keys/{key_id}"):
            made = api.post("/v1/api-keys", json={"name": f"t{n}", "scopes": ["account:read"]})
            ids["key_id"] = made.json()["id"]
        if path.startswith("/v1/storage/access-keys/{key_id}"):
            made = api.post("/v1/storage/access-keys", json={"label": f"t{n}"})
            ids["key_id"] = made.json()["access_key_id"]
        if path.startswith("/v1/storage/kms-keys/{key_id}"):
            ids["key_id"] = api.post("/v1/storage/kms-keys", json={}).json()["id"]
        if path.startswith("/v1/compute/ssh-keys/{key_id}"):
            made = api.post("/v1/compute/ssh-keys", json=ssh_key_body(ids))
            assert made.status_code == 201, made.text
            ids["key_id"] = made.json()["id"]
        if "{method_id}" in path:
            ids["method_id"] = api.post("/v1/billing/payment-methods", json=CARD).json()["id"]
        if "{invoice_id}" in path:
            ids["invoice_id"] = self.invoice
        if "{ticket_id}" in path:
            made = api.post("/v1/support/tickets", json=TICKET).json()
            ids["ticket_id"] = made["id"]
            if path.endswith("/reopen"):
                api.post(f"/v1/support/tickets/{made['id']}/close").raise_for_status()
        if "{attachment_id}" in path:
            sent = api.post(
                f"/v1/support/tickets/{ids['ticket_id']}/attachments",
                files=[("files", ("log.txt", b"a log", "text/plain"))],
            ).json()
            ids["attachment_id"] = sent["attachments"][0]["id"]
        if "{account_id}" in path:
            made = httpx.post(
                f"{self.live.api_url}/v1/signup",
                json={"email": f"authz-target-{n}@example.com", "password": PASSWORD},
            )
            ids["account_id"] = made.json()["id"]
        return ids

    def registry_resources(self, method: str, path: str, n: int) -> dict[str, str]:
        """A registry of account A (for POST /v1/registries: a name A took), with an image
        pushed and a second credential when the path names them."""
        api = self.admin["a"]
        ids = {"name": f"authz-{n}"}
        made = api.post("/v1/registries", json={"name": ids["name"]})
        assert made.status_code == 201, made.text
        if "{repository}" in path:
            credential = made.json()["credential"]
            ids["repository"], ids["tag"] = "app", "v1"
            ids["digest"] = push_image(
                self.live,
                credential["username"],
                credential["token"],
                f"{ids['name']}/app",
                "v1",
                [b"a layer"],
            )
        if "{credential_id}" in path:
            added = api.post(f"/v1/registries/{ids['name']}/credentials", json={"label": "x"})
            ids["credential_id"] = added.json()["id"]
        return ids

    def database_resources(self, method: str, path: str, n: int) -> dict[str, str]:
        """A fresh name for POST /v1/databases; a fresh database of account A to DELETE;
        the shared Running one for the other routes that name a database."""
        if "{name}" not in path:
            return {"name": f"authz-db-{n}"} if method == "POST" else {}
        if method != "DELETE":
            return {"name": SHARED_DATABASE}
        name = f"authz-db-{n}"
        made = self.admin["a"].post("/v1/databases", json={"name": name, "plan": "micro"})
        assert made.status_code == 201, made.text
        return {"name": name}

    def instance_resources(self, method: str, path: str, n: int) -> dict[str, str]:
        """A fresh name to launch; the shared Running instance to read, reboot and read
        the console of; a fresh instance to stop or delete, a stopped one to start."""
        if "{name}" not in path:
            return {"name": f"authz-vm-{n}"} if method == "POST" else {}
        if method == "GET" or path.endswith(("/reboot", "/backup-schedule")):
            return {"name": SHARED_INSTANCE}
        api, name = self.admin["a"], f"authz-vm-{n}"
        made = api.post("/v1/compute/instances", json={"name": name, "size": "nano"})
        assert made.status_code == 201, made.text
        if path.endswith("/start"):
            api.post(f"/v1/compute/instances/{name}/stop").raise_for_status()
            wait_instance(api, name, "Stopped")
        return {"name": name}

    @staticmethod
    def copies_the_stopped_instance(method: str, path: str) -> bool:
        """Whether ``copy_resources`` makes a fresh copy of the stopped instance for it."""
        if not path.startswith(COPIES) or "{name}" not in path:
            return False
        return method != "GET" and not path.endswith("/launch")

    def copy_resources(self, method: str, path: str, n: int) -> dict[str, str]:
        """The shared instance to copy (a fresh copy name), the shared copy to read and
        launch from (a fresh instance name); a fresh copy of the stopped instance to delete
        or revert to."""
        if "{instance}" in path:
            return {"instance": SHARED_INSTANCE, "copy": f"authz-copy-{n}"}
        if "{name}" not in path:
            return {}
        if not self.copies_the_stopped_instance(method, path):
            return {"name": SHARED_COPY, "launched": f"authz-vm-{n}"}
        kind = "backups" if path.startswith("/v1/compute/backups") else "snapshots"
        api, name = self.admin["a"], f"authz-copy-{n}"
        wait_instance(api, STOPPED_INSTANCE, "Stopped")  # not Reverting any more
        made = api.post(f"/v1/compute/instances/{STOPPED_INSTANCE}/{kind}", json={"name": name})
        assert made.status_code == 202, made.text
        wait_copy(api, kind, name)
        return {"name": name}

    def marker(self, path: str) -> str:
        """Something of account A that a list at ``path`` would show to A: another account
        must not see it."""
        api = self.admin["a"]
        n = next(self.counter)
        if path == "/v1/api-keys":
            api.post("/v1/api-keys", json={"name": f"marker-{n}", "scopes": ["account:read"]})
        elif path == "/v1/storage/buckets":
            api.post("/v1/storage/buckets", json={"name": f"marker-{n}"}).raise_for_status()
        elif path == "/v1/storage/access-keys":
            api.post("/v1/storage/access-keys", json={"label": f"marker-{n}"}).raise_for_status()
        elif path == "/v1/billing/payment-methods":
            api.post("/v1/billing/payment-methods", json={**CARD, "holder": f"marker-{n}"})
        elif path == "/v1/storage/kms-keys":
            made = api.post("/v1/storage/kms-keys", json={"alias": f"alias/marker-{n}"})
            made.raise_for_status()
        elif path == "/v1/billing/invoices":
            return self.invoice
        elif path == "/v1/registries":
            api.post("/v1/registries", json={"name": f"marker-{n}"}).raise_for_status()
        elif path == "/v1/databases":
            return SHARED_DATABASE
        elif path == "/v1/compute/instances":
            return SHARED_INSTANCE
        elif path in COPIES:
            return SHARED_COPY
        elif path == "/v1/compute/ssh-keys":
            made = api.post("/v1/compute/ssh-keys", json=ssh_key_body({}))
            made.raise_for_status()
            return str(made.json()["id"])
        elif path == "/v1/support/tickets":
            subject = f"marker-{n}"
            api.post("/v1/support/tickets", json={**TICKET, "subject": subject})
        else:
            raise AssertionError(f"no marker for the list {path}")
        return f"marker-{n}"


def limits(live: LiveServer, email: str) -> None:
    """Hundreds of requests and resources per account: the request rates are lifted, and so
    are the counts the matrix makes fresh resources of (Free has 10 of each, 3 open tickets)."""
    unthrottled(live, email)
    live.raise_limits(
        email,
        buckets=1000,
        access_keys=1000,
        api_keys=1000,
        support_open_tickets=1000,
        registries=1000,
        registry_credentials=1000,
        databases=1000,
        database_vcpus="unlimited",
        database_memory_bytes="unlimited",
        database_storage_bytes="unlimited",
        ssh_keys=1000,
        instances=1000,
        instance_vcpus="unlimited",
        instance_memory_bytes="unlimited",
        snapshots=1000,
        backups=1000,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    live = LiveServer(tmp_path_factory.mktemp("authz") / "data")
    live.data_dir.mkdir()
    live.start()
    try:
        emails = {r: f"authz-{r}@example.com" for r in ("a", "b", "c")}
        world = World(live, emails)
        for role, email in emails.items():
            live.account(email, PASSWORD)
            limits(live, email)
            world.admin[role] = httpx.Client(
                base_url=live.api_url,
                headers={"Authorization": f"Bearer {live.api_key(email, 'root')}"},
                timeout=30,
            )
        operator = "operator@nexq.local"
        limits(live, operator)
        world.admin["operator"] = httpx.Client(
            base_url=live.api_url,
            headers={"Authorization": f"Bearer {live.api_key(operator, 'root')}"},
            timeout=30,
        )
        world.invoice = invoice_of(live, world.admin["a"])
        # Either account launches with a key of its own.
        for role in ("a", "b"):
            added = world.admin[role].post("/v1/compute/ssh-keys", json=ssh_key_body({}))
            assert added.status_code == 201, added.text
        made = world.admin["a"].post(
            "/v1/compute/instances", json={"name": SHARED_INSTANCE, "size": "nano"}
        )
        assert made.status_code == 201, made.text
        stopped = world.admin["a"].post(
            "/v1/compute/instances", json={"name": STOPPED_INSTANCE, "size": "nano"}
        )
        assert stopped.status_code == 201, stopped.text
        # The database is made while the instances boot.
        made = world.admin["a"].post(
            "/v1/databases", json={"name": SHARED_DATABASE, "plan": "micro"}
        )
        assert made.status_code == 201, made.text
        # The tiny image's guest ignores the power button: the provisioner forces it off
        # after 30 s. Asked now and not waited for here: the cells that copy the stopped
        # instance run last (stopped_instance_last) and wait for it themselves.
        wait_instance(world.admin["a"], STOPPED_INSTANCE, "Running")
        world.admin["a"].post(f"/v1/compute/instances/{STOPPED_INSTANCE}/stop").raise_for_status()
        wait_status(world.admin["a"], SHARED_DATABASE, "Running")
        wait_instance(world.admin["a"], SHARED_INSTANCE, "Running")
        for kind in ("snapshots", "backups"):
            url = f"/v1/compute/instances/{SHARED_INSTANCE}/{kind}"
            taken = world.admin["a"].post(url, json={"name": SHARED_COPY})
            assert taken.status_code == 202, taken.text
            wait_copy(world.admin["a"], kind, SHARED_COPY)
        yield world
        for client in world.admin.values():
            client.close()
    finally:
        live.stop()
        # The instances of the matrix (a running one, a stopped one, and the ones cells
        # launched), stopped now rather than when the test process ends.
        live.remove_instances()
        live.remove_databases()


def wait_instance(api: httpx.Client, name: str, status: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while (found := api.get(f"/v1/compute/instances/{name}").json())["status"] != status:
        assert time.monotonic() < deadline, f"{name} not {status} within {seconds} s: {found}"
        time.sleep(0.2)


def wait_copy(api: httpx.Client, kind: str, name: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while (found := api.get(f"/v1/compute/{kind}/{name}").json())["status"] != "Available":
        assert time.monotonic() < deadline, f"{name} not Available within {seconds} s: {found}"
        time.sleep(0.2)


def invoice_of(live: LiveServer, api: httpx.Client) -> str:
    """An invoice of account A: one hour of usage in January 2020, then that month closed."""
    account_id = api.get("/v1/account").json()["id"]
    hour = 438_300  # hours since the epoch: 2020-01-01T12:00Z
    with sqlite3.connect(live.data_dir / "meta.db") as db:
        db.execute(
            "INSERT INTO usage_hourly(account_id, hour, bucket_id, bucket_name, class_a) "
            "VALUES (?, ?, 'gone', 'gone', 1)",
            (account_id, hour),
        )
    nexq("admin", "billing", "close-month", "--month", "2020-01", data_dir=live.data_dir)
    invoices = api.get("/v1/billing/invoices").json()
    assert len(invoices) == 1, invoices
    return str(invoices[0]["id"])


def token_of(world: World, cell: Cell) -> str | None:
    recipe = RECIPES[(cell.method, cell.path)]
    role = "operator" if recipe.operator else "a"
    if cell.caller == "none":
        return None
    if cell.caller == "revoked":
        token = world.admin[role].post("/v1/api-keys", json={"name": "doomed"}).json()
        world.admin[role].post(f"/v1/api-keys/{token['id']}/revoke").raise_for_status()
        return str(token["token"])
    if cell.caller in ("wrong", "right", "narrower"):
        return world.token(role, cell.scopes)
    if cell.caller == "session":
        return None  # made at call time: a password change ends the account's sessions
    if cell.caller == "other":
        return world.token("b", CUSTOMER_SCOPES)
    assert cell.caller == "suspended"
    return world.token("c", CUSTOMER_SCOPES)


def call(world: World, cell: Cell, token: str | None) -> tuple[httpx.Response, dict[str, str]]:
    recipe = RECIPES[(cell.method, cell.path)]
    ids = world.resources(cell.method, cell.path)
    ids["caller"] = cell.caller
    if cell.caller == "session":
        token = world.session()
    if cell.caller == "narrower":
        # The target is a key holding every scope, the caller a key with account:write.
        wide = world.admin["a"].post("/v1/api-keys", json={"name": "wide"}).json()
        ids["key_id"] = wide["id"]
    if cell.expect == "hidden":
        ids["marker"] = world.marker(cell.path)
    path = cell.path.format(**ids)
    body = recipe.body(ids)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if recipe.files:
        answer = httpx.request(
            cell.method,
            f"{world.live.api_url}{path}",
            files=[("files", ("note.txt", b"a note", "text/plain"))],
            headers=headers,
            timeout=30,
        )
        return answer, ids
    answer = httpx.request(
        cell.method,
        f"{world.live.api_url}{path}",
        content=json.dumps(body) if body is not None else None,
        headers={**headers, **({"content-type": "application/json"} if body else {})},
        timeout=30,
    )
    return answer, ids


def matches(cell: Cell, answer: httpx.Response, ids: dict[str, str]) -> bool:
    expected = cell.expect
    if expected == "ok":
        return 200 <= answer.status_code < 300
    if expected == "hidden":
        return answer.status_code == 200 and ids["marker"] not in answer.text
    status, _, slug = expected.partition(":")
    if answer.status_code != int(status):
        return False
    if not answer.headers.get("content-type", "").startswith("application/problem+json"):
        return False
    return not slug or answer.json()["type"] == f"urn:nexq:problem:{slug}"


def stopped_instance_last(cells: list[Cell]) -> list[Cell]:
    """``cells``, those that copy the stopped instance last (in their order): until then its
    guest is being forced off, which the other cells overlap."""
    later = [c for c in cells if World.copies_the_stopped_instance(c.method, c.path)]
    return [c for c in cells if c not in later] + later


def suspend(world: World, yes: bool) -> None:
    verb = "suspend" if yes else "resume"
    nexq("admin", "account", verb, world.emails["c"], data_dir=world.live.data_dir)


def test_every_route_is_in_the_matrix_and_every_cell_holds(world: World) -> None:
    spec = world.admin["a"].get("/v1/openapi.json").json()
    routes = {
        (method.upper(), path): operation.get("security", [])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    undeclared = sorted(r for r, security in routes.items() if not security and r not in PUBLIC)
    assert not undeclared, f"routes that state no scopes: {undeclared}"
    missing = sorted(r for r in routes if r not in RECIPES and r not in PUBLIC)
    assert not missing, f"routes without a recipe in the authorization matrix: {missing}"
    assert not set(RECIPES) - set(routes), "recipes of routes that no longer exist"
    read_scoped_changes = sorted(
        (method, path)
        for (method, path), security in routes.items()
        if method != "GET" and (method, path) not in READS_BY_POST
        for alternative in security
        for scope in alternative["HTTPBearer"] or ["(no scope)"]
        if not scope.endswith(":write")
    )
    assert not read_scoped_changes, f"state changes that accept a read scope: {read_scoped_changes}"
    cells = [
        cell
        for (method, path), security in sorted(routes.items())
        if (method, path) not in PUBLIC
        for cell in cells_of(method, path, security)
    ]
    failures = []
    tokens = {cell: token_of(world, cell) for cell in cells}  # keys made before suspension
    for cell in stopped_instance_last([c for c in cells if c.caller != "suspended"]):
        answer, ids = call(world, cell, tokens[cell])
        if not matches(cell, answer, ids):
            failures.append(f"{cell}: got {answer.status_code} {answer.text[:160]}")
    suspend(world, True)
    try:
        for cell in [c for c in cells if c.caller == "suspended"]:
            answer, ids = call(world, cell, tokens[cell])
            if not matches(cell, answer, ids):
                failures.append(f"{cell}: got {answer.status_code} {answer.text[:160]}")
    finally:
        suspend(world, False)
    assert len(cells) > 5 * len(RECIPES)
    assert not failures, "\n".join(failures)
