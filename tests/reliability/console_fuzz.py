"""The console's routes, read from the app itself, and a seeded generator of hostile requests.

``console_routes`` builds the real application (on a scratch data dir) and reads the console's
routes from its OpenAPI description (``FastAPI.openapi()`` works with the document URL
switched off): every path, method, path and query parameter, and each body's fields and
encoding. A route added tomorrow is enumerated, attacked and fuzzed without a change here;
a path parameter nobody has taught :class:`Targets` to fill fails loudly instead of being
skipped.

``Generator`` makes one raw HTTP/1.1 request per index, byte for byte (invalid UTF-8, NUL,
duplicated fields, broken multipart are all in reach), signed in with a real session and,
except where the input is about CSRF, carrying its CSRF token. The same seed gives the same
inputs, so a finding is reproduced by its index.

``snapshot`` reads the state a console request could change straight from the metadata
database (read-only), so that "a refused request changed nothing" is checked without
another request through the server under test.
"""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes

from nexq.app import BACKUP_ACCOUNT, COMPUTE_BACKUP_ACCOUNT

STATE_CHANGING = frozenset({"POST", "PUT", "DELETE", "PATCH"})
XSS = [
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(2)>',
    "'><script>alert(3)</script>",
    "</script><script>alert(4)</script>",
    "javascript:alert(5)",
    "{{7*7}}${7*7}{% raw %}",
    "' onmouseover='alert(6)' x='",
]
# Text values: emptiness, numbers in every wrong shape, control characters, traversal,
# markup, injection, unicode that normalises or reorders, and sizes past every limit.
HOSTILE = [
    "",
    " ",
    "   padded   ",
    "0",
    "-1",
    "-0",
    "1.5",
    "1e3",
    "1E+999999999",
    "1E-999999999",
    "9" * 30,
    "-" + "9" * 30,
    "9" * 5000,
    "NaN",
    "Infinity",
    "-Infinity",
    "0x1F",
    "٣",  # an Arabic-Indic digit: int() takes it
    "\uff11\uff12",  # fullwidth digits
    "true",
    "null",
    "[]",
    "{}",
    "\x00",
    "a\x00b",
    "\r\nInjected: yes",
    "\t",
    "\x1b[31mred",
    "\x7f",
    "\x08\x0b\x0c",
    "..",
    "../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/",
    "//evil.example/",
    "/\\evil.example",
    "%2e%2e%2f",
    "%00",
    "https://evil.example/",
    "http://127.0.0.1:1/",
    "file:///etc/passwd",
    *XSS,
    "' OR '1'='1",
    "'; DROP TABLE accounts; --",
    "café",
    "cafe\u0301",  # the same word, decomposed
    "\ufb01le",  # the "fi" ligature: NFKC makes it "file"
    "\uff21\uff22\uff23",  # fullwidth letters
    "İstanbul",  # lowercases to two code points
    "straße",
    "\u202egnp.exe",  # right-to-left override
    "\u200b",
    "\ufeffbom",
    "😀" * 10,
    "a" * 64,
    "a" * 1025,
    "é" * 600,
    "x" * 100_000,
]
# Bytes no UTF-8 decoder accepts (sent raw, and percent-encoded).
INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xc0\xaf",  # overlong "/"
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",  # a lone surrogate
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\x80",
    b"a\xffb",
]
# Values that pass (or nearly pass) each field's checks, by field name, so that other
# fields' hostile values get past the first validation and reach deeper code.
PLAUSIBLE: dict[str, list[str]] = {
    "name": ["fuzz-made", "a.b.c", "abc", "ab", "x" * 63, "x" * 64, "Upper", "192.168.0.1"],
    "email": ["someone@example.com", "x@y.z", "@example.com", "a@b", "A@EXAMPLE.COM"],
    "password": ["correct horse battery", "short", "x" * 1025],
    "confirm": ["yes", "no", "YES", "correct horse battery"],
    "current": ["not the password", ""],
    "new": ["a brand new passphrase", "short"],
    "next": ["/storage/usage", "//evil.example", "https://evil.example", "/\\evil"],
    "label": ["laptop", "ci"],
    "bucket_access": ["all", "specific", "none"],
    "buckets": ["fuzz", "missing-bucket"],
    "description": ["for CI"],
    "scopes": ["storage:read", "storage:write", "account:write", "admin:write", "root"],
    "tier": ["free", "enterprise", "pro", "no-such-tier"],
    "key": ["k", "dir/sub/key.txt", "new-key", "a/", "", "a\x00b"],
    "prefix": ["", "dir/", "dir/sub/", "../"],
    "expires": ["900", "3600", "604800", "604801", "0", "2099-01-31", "2001-01-01", "2099-02-30"],
    "access": ["read", "write", "admin"],
    "confirm_name": ["fuzz", "wrong-name", ""],
    "plan": ["micro", "small", "large", "no-such-plan"],
    "backups": ["on", "off", ""],
    "mode": ["restore", "", "new", "RESTORE"],
    "source": ["fuzz", "no-such-db", ""],
    "restore_point": ["latest", "time", ""],
    "target_time": [
        "2027-01-31T12:00",
        "2020-01-01T00:00:00",
        "0001-01-01T00:00",
        "9999-12-31T23:59:59.999999",
        "2027-02-30T12:00",
        "2027-01-31T12:00Z",
        "2027-01-31",
    ],
    "number": ["4242 4242 4242 4242", "4242424242424242", "4242424242424241", "5555555555554444"],
    "exp_month": ["1", "12", "13", "0"],
    "exp_year": ["2030", "2099", "1999", "10000"],
    "holder": ["Ada Lovelace"],
    "amount": ["25.00", "0.01", "0", "-5", "1000000000000", "1E+999999999", "1E-999999999"],
    "thresholds": ["50, 80, 100", "50%", "0", "1001", "50,,80"],
    "webhook_url": ["https://hooks.example/x", "ftp://x", ""],
    "csrf_token": [],
}
CONTENT_TYPES = [
    "text/plain",
    "application/xml",
    "application/json",
    "application/x-www-form-urlencoded; charset=utf-16",
    "multipart/form-data",  # no boundary
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary="unterminated',
    "multipart/mixed; boundary=b",
    "application/octet-stream",
    "text/html; charset=\x00",
    "x" * 3000,
    "",
]
EVIL_ORIGIN = "http://evil.example"
EDGE_PERIODS = [
    ("9999-12-01", "9999-12-31"),
    ("9999-12-31", "9999-12-31"),
    ("0001-01-01", "0001-01-31"),
    ("0001-01-01", "0001-01-01"),
    ("2024-02-29", "2024-02-29"),
]
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
ANONYMOUS_FORMS = frozenset({"/", "/login", "/signup"})
STATE_TABLES = {
    # table: the columns whose change counts (sliding or bookkeeping columns left out)
    "accounts": "id, email, password_hash, role, status, tier",
    "buckets": "id, name, account_id",
    "objects": "bucket_id, key, etag, headers, metadata",
    "uploads": "id, bucket_id, key",
    "parts": "upload_id, number, etag",
    "access_keys": "id, account_id, label, all_buckets, status",
    "access_key_buckets": "access_key_id, bucket_id",
    "sessions": "token_hash, account_id",
    "api_keys": "id, account_id, name, description, scopes, token_hash, status",
    "account_limits": "account_id, name, value",
    "payment_methods": "id, account_id, brand, last4, exp_month, exp_year, holder, is_default",
    "budgets": "account_id, amount, thresholds, email, webhook_url",
    "notifications": "id, read",
    "support_tickets": "id, account_id, subject, severity, status, assignee",
    "support_messages": "id, ticket_id, body",
    "support_attachments": "id, message_id, filename",
    "support_plans": "account_id, plan",
    "registry_registries": "id, account_id, name",
    "registry_credentials": "id, registry_id, label, token_hash, access, expires_at, revoked_at",
    "registry_manifests": "registry_id, repository, digest",
    "registry_tags": "registry_id, repository, name, digest",
    # The provisioner moves a database's status, port and reason by itself, and the backups
    # job clears a Back up now once taken (backup_requested_at): what a request changes is
    # whether it exists (restored from what, to when), is being deleted, and its owner's
    # password.
    "databases_instances": "id, account_id, name, plan, replicas, backups, password_verifier, "
    "status LIKE 'Delet%', restore_source, restore_target",
    "compute_ssh_keys": "id, account_id, name, fingerprint, is_default",
    # The provisioner moves an instance from Provisioning, Starting and Rebooting to Running
    # (or Pending, or Error) and from Stopping to Stopped, and ends a deleted one, by itself:
    # what a request changes is whether it exists, whether it is off, and whether it goes.
    # (Reverting counts as off: the copier ends it, Stopped again, by itself.)
    "compute_instances": "id, account_id, name, image, size, ssh_key_id, backup_keep, "
    "status LIKE 'Stop%' OR status = 'Reverting', status = 'Deleting' OR deleted_at IS NOT NULL",
    # The copier makes a copy Available, ends a revert and a deletion, and takes daily
    # backups, by itself: what a request changes is whether a copy of its own exists and
    # whether it goes.
    "compute_disk_copies": "id, account_id, kind, name, instance_id, "
    "status = 'Deleting' OR deleted_at IS NOT NULL",
}

# The databases' backups go to a bucket of a system account (made with the first database)
# that the databases themselves write to, a WAL segment a minute and every full backup,
# whatever the console is asked: its rows are no request's doing. So do the instances'
# backups, uploaded by the copier to a bucket of a system account of their own.
# (Fixed text, no input: hence the S608 exceptions.)
_BACKUP_ACCOUNT = (
    "(SELECT id FROM accounts WHERE email IN "  # noqa: S608
    f"('{BACKUP_ACCOUNT}', '{COMPUTE_BACKUP_ACCOUNT}'))"
)
_BACKUP_BUCKETS = f"(SELECT id FROM buckets WHERE account_id IN {_BACKUP_ACCOUNT})"  # noqa: S608
_BACKUP_UPLOADS = f"(SELECT id FROM uploads WHERE bucket_id IN {_BACKUP_BUCKETS})"  # noqa: S608
# A bucket that was asked to be emptied loses its objects and uploads to the emptying job,
# by itself, for a while after the request that asked (which is what counts: the setting).
_EMPTIED_BUCKETS = "(SELECT bucket_id FROM bucket_settings WHERE name IN ('emptying', 'emptied'))"
_EMPTIED_UPLOADS = f"(SELECT id FROM uploads WHERE bucket_id IN {_EMPTIED_BUCKETS})"  # noqa: S608
STATE_SCOPES = {
    "accounts": f"id NOT IN {_BACKUP_ACCOUNT}",
    "buckets": f"account_id NOT IN {_BACKUP_ACCOUNT}",
    "objects": f"bucket_id NOT IN {_BACKUP_BUCKETS} AND bucket_id NOT IN {_EMPTIED_BUCKETS}",
    "uploads": f"bucket_id NOT IN {_BACKUP_BUCKETS} AND bucket_id NOT IN {_EMPTIED_BUCKETS}",
    "parts": f"upload_id NOT IN {_BACKUP_UPLOADS} AND upload_id NOT IN {_EMPTIED_UPLOADS}",
    "access_keys": f"account_id NOT IN {_BACKUP_ACCOUNT}",
    "access_key_buckets": f"bucket_id NOT IN {_BACKUP_BUCKETS}",
    "compute_disk_copies": "scheduled = 0",
}


# ------------------------------------------------------------------------------ routes


@dataclass(frozen=True)
class Param:
    """A form field or query parameter: ``kind`` is text, texts, int, file or files."""

    name: str
    kind: str
    required: bool


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the template, e.g. /storage/buckets/{name}/delete
    path_params: tuple[str, ...]
    query: tuple[Param, ...]
    body: str | None  # form, multipart, json, or None (no body, or the raw body of a PUT)
    fields: tuple[Param, ...]
    schema: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def changes_state(self) -> bool:
        return self.method in STATE_CHANGING

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def console_openapi() -> dict[str, Any]:
    """The console's OpenAPI document, from the application exactly as ``nexq serve`` builds
    it (on a throw-away data dir)."""
    from nexq.app import build
    from nexq.core.ratelimit import RateLimiter
    from nexq.planes import api_app
    from nexq.settings import Settings
    from nexq.web.console.app import ConsoleMount

    with tempfile.TemporaryDirectory() as scratch:
        nexq = build(Settings(data_dir=Path(scratch)))
        try:
            app = api_app(nexq, RateLimiter(slots=16))
            mounts = [r for r in app.router.routes if isinstance(r, ConsoleMount)]
            assert len(mounts) == 1, "the console is mounted once"
            console = mounts[0].app
            return dict(console.openapi())  # type: ignore[attr-defined]
        finally:
            nexq.close()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        resolved: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return resolved
    return schema


def _kind(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    schema = _resolve(spec, schema)
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    binary = schema.get("format") == "binary" or "contentMediaType" in schema
    kind = schema.get("type")
    if kind == "array":
        item = _resolve(spec, schema.get("items", {}))
        is_file = item.get("format") == "binary" or "contentMediaType" in item
        return "files" if is_file else "texts"
    if binary:
        return "file"
    return "int" if kind == "integer" else "text"


def console_routes(spec: dict[str, Any] | None = None) -> list[Route]:
    """Every console route (method and path) with its parameters and body fields."""
    spec = spec or console_openapi()
    routes = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            path_params = tuple(p["name"] for p in params if p["in"] == "path")
            query = tuple(
                Param(p["name"], _kind(spec, p.get("schema", {})), bool(p.get("required")))
                for p in params
                if p["in"] == "query"
            )
            body, fields, schema = None, (), {}
            content = op.get("requestBody", {}).get("content", {})
            for media, description in content.items():
                schema = _resolve(spec, description.get("schema", {}))
                required = set(schema.get("required", []))
                body = {
                    "application/x-www-form-urlencoded": "form",
                    "multipart/form-data": "multipart",
                    "application/json": "json",
                }[media]
                fields = tuple(
                    Param(name, _kind(spec, prop), name in required)
                    for name, prop in schema.get("properties", {}).items()
                )
            routes.append(Route(method.upper(), path, path_params, query, body, fields, schema))
    return routes


# ------------------------------------------------------------------------------- state


class State:
    """The rows a console request could change, read from the database read-only (the
    server keeps writing), on one connection: a new one parses the schema first."""

    def __init__(self, db: Path) -> None:
        self._conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        self._seen = self._version()

    def read(self) -> dict[str, list[tuple[Any, ...]]]:
        out = {}
        for table, columns in STATE_TABLES.items():
            order = ", ".join(str(i + 1) for i in range(columns.count(",") + 1))
            scope = f"WHERE {STATE_SCOPES[table]} " if table in STATE_SCOPES else ""
            sql = f"SELECT {columns} FROM {table} {scope}ORDER BY {order}"  # noqa: S608 - fixed names
            out[table] = self._conn.execute(sql).fetchall()
        return out

    def _version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def committed(self) -> bool:
        """Whether anyone committed since the last call (``PRAGMA data_version`` of a
        connection that never writes): the full :meth:`read` is needed only then."""
        now = self._version()
        changed, self._seen = now != self._seen, now
        return changed

    def close(self) -> None:
        self._conn.close()


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """One :meth:`State.read`."""
    state = State(db)
    try:
        return state.read()
    finally:
        state.close()


def changed_tables(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]
) -> list[str]:
    return [t for t in before if before[t] != after[t]]


@dataclass
class Targets:
    """Real ids of the signed-in account's resources (the valid values of path parameters)
    and of another account's (which must be out of reach)."""

    account_id: str
    buckets: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    access_keys: list[str] = field(default_factory=list)
    api_keys: list[str] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)
    uploads: list[tuple[str, str, str]] = field(default_factory=list)  # bucket, key, id
    invoices: list[str] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    registries: list[str] = field(default_factory=list)
    credentials: list[str] = field(default_factory=list)  # of the account's registries
    images: list[tuple[str, str, str]] = field(default_factory=list)  # repository, tag, digest
    databases: list[str] = field(default_factory=list)
    ssh_keys: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, db: Path, account_id: str) -> Targets:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:

            def column(sql: str) -> list[str]:
                return [str(r[0]) for r in conn.execute(sql, (account_id,))]

            buckets = column("SELECT name FROM buckets WHERE account_id = ? ORDER BY name")
            keys = column(
                "SELECT o.key FROM objects o JOIN buckets b ON b.id = o.bucket_id "
                "WHERE b.account_id = ? ORDER BY o.key LIMIT 50"
            )
            uploads = [
                (str(r[0]), str(r[1]), str(r[2]))
                for r in conn.execute(
                    "SELECT b.name, u.key, u.id FROM uploads u JOIN buckets b "
                    "ON b.id = u.bucket_id WHERE b.account_id = ? LIMIT 20",
                    (account_id,),
                )
            ]
            return cls(
                account_id,
                buckets,
                keys,
                column("SELECT id FROM access_keys WHERE account_id = ? AND internal = 0 LIMIT 20"),
                column("SELECT id FROM api_keys WHERE account_id = ? LIMIT 20"),
                column("SELECT id FROM payment_methods WHERE account_id = ? LIMIT 20"),
                uploads,
                column("SELECT number FROM invoices WHERE account_id = ? LIMIT 5"),
                column("SELECT id FROM support_tickets WHERE account_id = ? LIMIT 20"),
                column(
                    "SELECT a.id FROM support_attachments a JOIN support_tickets t "
                    "ON t.id = a.ticket_id WHERE t.account_id = ? LIMIT 20"
                ),
                registries=column(
                    "SELECT name FROM registry_registries WHERE account_id = ? ORDER BY name"
                ),
                credentials=column(
                    "SELECT c.id FROM registry_credentials c JOIN registry_registries r "
                    "ON r.id = c.registry_id WHERE r.account_id = ? LIMIT 20"
                ),
                images=[
                    (str(r[0]), str(r[1]), str(r[2]))
                    for r in conn.execute(
                        "SELECT t.repository, t.name, t.digest FROM registry_tags t JOIN "
                        "registry_registries r ON r.id = t.registry_id WHERE r.account_id = ? "
                        "ORDER BY r.name LIMIT 20",
                        (account_id,),
                    )
                ],
                databases=column(
                    "SELECT name FROM databases_instances WHERE account_id = ? "
                    "AND status <> 'Deleted' ORDER BY name"
                ),
                ssh_keys=column(
                    "SELECT id FROM compute_ssh_keys WHERE account_id = ? ORDER BY created_at"
                ),
                instances=column(
                    "SELECT name FROM compute_instances WHERE account_id = ? "
                    "AND deleted_at IS NULL AND status <> 'Deleting' ORDER BY name"
                ),
                snapshots=column(
                    "SELECT name FROM compute_disk_copies WHERE account_id = ? "
                    "AND kind = 'snapshot' AND deleted_at IS NULL ORDER BY name"
                ),
                backups=column(
                    "SELECT name FROM compute_disk_copies WHERE account_id = ? "
                    "AND kind = 'backup' AND deleted_at IS NULL ORDER BY name"
                ),
            )

    def path_values(self, route: Route, param: str) -> list[str]:
        """The valid values of ``param`` in ``route``; KeyError names a parameter to teach."""
        storage = route.path.startswith("/storage/")
        # What {name} names, by section: a guide's section, a registry, a database, a bucket.
        named = {
            "/docs/": ["registry"],
            "/registries/": self.registries,
            "/databases/": self.databases,
            "/compute/instances/": self.instances,
            "/compute/snapshots/": self.snapshots,
            "/compute/backups/": self.backups,
        }
        names = next((v for p, v in named.items() if route.path.startswith(p)), self.buckets)
        table: dict[str, Callable[[], list[str]]] = {
            "name": lambda: names,
            "slug": lambda: ["overview", "push-images"],
            "file": lambda: ["registry-created.png"],  # a picture a registry page shows
            "upload_id": lambda: [u[2] for u in self.uploads],
            "number": lambda: ["1", "2"],
            "key_id": lambda: self.access_keys if storage else self.api_keys,
            "method_id": lambda: self.cards,
            "ref": lambda: self.invoices,
            "ticket_id": lambda: self.tickets,
            "attachment_id": lambda: self.attachments,
            "credential_id": lambda: self.credentials,
            "repository": lambda: [i[0] for i in self.images],
            "tag": lambda: [i[1] for i in self.images],
            "digest": lambda: [i[2] for i in self.images],
            "ssh_key_id": lambda: self.ssh_keys,
            # A password reset link's token: an unknown one (the page says so, 404).
            "token": lambda: ["nxr_unknown"],
        }
        if param not in table:
            raise KeyError(
                f"{route}: no values for the path parameter {param!r}; teach Targets.path_values"
            )
        return table[param]()


# --------------------------------------------------------------------------- encoding


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def urlencode_raw(pairs: list[tuple[str | bytes, str | bytes]], raw: bool = False) -> bytes:
    """``a=b&c=d``; with ``raw``, bytes go as they are (invalid UTF-8 unescaped)."""
    out = []
    for name, value in pairs:
        if raw:
            out.append(_b(name) + b"=" + _b(value))
        else:
            out.append(quote_from_bytes(_b(name), safe="") + "=" + quote_from_bytes(_b(value)))
    return b"&".join(o if isinstance(o, bytes) else o.encode() for o in out)


def multipart(
    parts: list[tuple[str | bytes, str | bytes, str | None, str | None]], boundary: str
) -> bytes:
    """A multipart/form-data body: (name, value, filename or None, content type or None)."""
    out = b""
    for name, value, filename, ctype in parts:
        disposition = b'Content-Disposition: form-data; name="' + _b(name) + b'"'
        if filename is not None:
            disposition += b'; filename="' + _b(filename) + b'"'
        out += b"--" + boundary.encode() + b"\r\n" + disposition + b"\r\n"
        if ctype is not None:
            out += b"Content-Type: " + _b(ctype) + b"\r\n"
        out += b"\r\n" + _b(value) + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n"


# -------------------------------------------------------------------------- generator


@dataclass
class Auth:
    """Who the request comes from: the session cookie and the CSRF tokens to choose from."""

    session: str
    csrf: str  # the session's own token
    foreign_csrf: str  # another session's token (valid there, not here)
    anonymous_csrf: str  # a signed-out visitor's token, with its cookie value
    anonymous_cookie: str


@dataclass
class Input:
    index: int
    family: str
    route: Route
    method: str
    target: bytes
    headers: list[tuple[str | bytes, str | bytes]]
    body: bytes
    # "valid" (the session's token, where the handler can find it) or how it is wrong
    token: str = "valid"
    well_formed: bool = True  # whether the server can parse the body to look for a token

    @property
    def expects_csrf_refusal(self) -> bool:
        return self.route.changes_state and self.token != "valid" and self.well_formed

    def describe(self) -> str:
        body = self.body[:160]
        skip = ("Host", "Connection", "Cookie")
        headers = [(k, _b(v)[:80]) for k, v in self.headers if k not in skip]
        return (
            f"#{self.index} {self.family} {self.method} {self.target[:200]!r} token={self.token}"
            f" headers={headers!r} body[{len(self.body)}]={body!r}"
        )


class Generator:
    """Hostile console requests, seeded: ``make(i)`` is the same request for the same seed
    (given the same targets)."""

    def __init__(self, seed: int, routes: list[Route], host: str) -> None:
        self.seed = seed
        self.routes = routes
        self.changing = [r for r in routes if r.changes_state]
        self.reading = [r for r in routes if not r.changes_state]
        self.host = host

    # values -----------------------------------------------------------------------------
    def text(self, rng: random.Random, name: str) -> str:
        plausible = PLAUSIBLE.get(name, [])
        if plausible and rng.random() < 0.5:
            return rng.choice(plausible)
        value = rng.choice(HOSTILE)
        roll = rng.random()
        if roll < 0.1:
            value = unicodedata.normalize(rng.choice(["NFC", "NFD", "NFKC", "NFKD"]), value)
        elif roll < 0.2 and plausible:
            value = rng.choice(plausible) + value  # a good start, then trouble
        return value

    def raw_value(self, rng: random.Random, name: str) -> str | bytes:
        if rng.random() < 0.3:
            return rng.choice(INVALID_UTF8) + self.text(rng, name)[:40].encode()
        return self.text(rng, name)

    def valid_path_value(self, rng: random.Random, route: Route, param: str, t: Targets) -> str:
        values = t.path_values(route, param)
        return rng.choice(values) if values else "none-yet"

    def hostile_path_value(self, rng: random.Random) -> bytes:
        return rng.choice(
            [
                b"..",
                b"%2e%2e",
                b"..%2f..%2fetc%2fpasswd",
                b"%00",
                b"a%00b",
                b"%ff%fe",
                b"%c0%af",
                b"x" * 10_000,
                b"%2F",
                b"-1",
                b"99999999999999999999999",
                b"0",
                b"%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
                b"%E2%80%AE",
                b"NQ-000000-DEADBEEF",
                b"%20",
            ]
        )

    def path(self, rng: random.Random, route: Route, t: Targets, hostile: bool) -> bytes:
        out = route.path
        chosen = []
        for param in route.path_params:
            if hostile and rng.random() < 0.7:
                value = self.hostile_path_value(rng)
            else:
                value = quote(self.valid_path_value(rng, route, param, t), safe="").encode()
            chosen.append(value)
            out = out.replace("{" + param + "}", "\x00PARAM\x00", 1)
        raw = out.encode()
        for value in chosen:
            raw = raw.replace(b"\x00PARAM\x00", value, 1)
        return raw

    def query(self, rng: random.Random, route: Route, t: Targets, hostile: bool) -> bytes:
        pairs: list[tuple[str | bytes, str | bytes]] = []
        pinned: dict[str, str] = {}
        if hostile and {"start", "end"} <= {p.name for p in route.query} and rng.random() < 0.4:
            # A period at the ends of the calendar (both dates, or the page ignores them).
            pinned = dict(zip(("start", "end"), rng.choice(EDGE_PERIODS), strict=True))
        for param in route.query:
            if param.name in pinned:
                pairs.append((param.name, pinned[param.name]))
                continue
            if not hostile:
                if param.name == "key" and t.keys:
                    pairs.append(("key", rng.choice(t.keys)))
                elif param.required or rng.random() < 0.5:
                    pairs.append((param.name, self.text(rng, param.name)))
                continue
            roll = rng.random()
            if roll < 0.15 and not param.required:
                continue  # left out
            value: str | bytes = self.raw_value(rng, param.name)
            if param.name in ("start", "end"):
                value = rng.choice(["0001-01-01", "9999-12-31", "2026-02-30", "", "x", value])
            elif param.name == "month":
                value = rng.choice(["0001-01", "9999-12", "2026-00", "2026-13", value])
            elif param.kind == "int":
                value = rng.choice(["-1", "0", "99999999999999999999999", "1e3", value])
            pairs.append((param.name, value))
            if roll > 0.9:
                pairs.append((param.name, self.raw_value(rng, param.name)))  # twice
        if hostile and rng.random() < 0.2:
            pairs.append(("unknown", self.raw_value(rng, "unknown")))
        if not pairs:
            return b""
        return b"?" + urlencode_raw(pairs, raw=hostile and rng.random() < 0.3)

    def form_pairs(
        self, rng: random.Random, route: Route, t: Targets, hostile: bool
    ) -> list[tuple[str | bytes, str | bytes]]:
        pairs: list[tuple[str | bytes, str | bytes]] = []
        for f in route.fields:
            if f.kind in ("file", "files"):
                continue
            if hostile and rng.random() < 0.15:
                continue  # missing
            many = [50, 1200] if hostile else []  # past the parsers' 1,000-field limit
            count = 1 if f.kind != "texts" else rng.choice([0, 1, 1, 2, 3, *many])
            for _ in range(count):
                if f.name == "key" and t.keys and rng.random() < 0.5:
                    pairs.append((f.name, rng.choice(t.keys)))
                elif f.name == "buckets" and t.buckets and rng.random() < 0.5:
                    pairs.append((f.name, rng.choice(t.buckets)))
                elif f.kind == "int" and rng.random() < 0.5:
                    pairs.append((f.name, rng.choice(["-1", "0", "1e3", "9" * 25, "3600", "abc"])))
                else:
                    pairs.append(
                        (f.name, self.raw_value(rng, f.name) if hostile else self.text(rng, f.name))
                    )
            if hostile and rng.random() < 0.08:
                pairs.append((f.name, self.raw_value(rng, f.name)))  # duplicated
        if hostile and rng.random() < 0.2:
            pairs.append(
                (rng.choice(["unknown", "__proto__", "csrf_token[]", ""]), self.raw_value(rng, "x"))
            )
        return pairs

    def file_parts(
        self, rng: random.Random, route: Route
    ) -> list[tuple[str | bytes, str | bytes, str | None, str | None]]:
        parts: list[tuple[str | bytes, str | bytes, str | None, str | None]] = []
        for f in route.fields:
            if f.kind not in ("file", "files"):
                continue
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                name = rng.choice(
                    [
                        "plain.txt",
                        "",
                        "dir/",
                        "a/b/c.txt",
                        "..\\..\\x.txt",
                        "../../x",
                        "C:\\fakepath\\x.txt",
                        "\x00.txt",
                        "x" * 1100,
                        *XSS[:2],
                        "%00",
                        "/",
                        ".",
                    ]
                )
                ctype = rng.choice(
                    [
                        None,
                        "text/plain",
                        "text/html",
                        "application/x-evil\r\nX: y",
                        "\x00",
                        "a" * 300,
                    ]
                )
                data = rng.choice([b"", b"data", b"\x00" * 100, rng.randbytes(3000)])
                parts.append((f.name, data, name, ctype))
        return parts

    def json_body(self, rng: random.Random, route: Route, t: Targets, hostile: bool) -> bytes:
        if hostile:
            roll = rng.random()
            if roll < 0.15:
                return rng.choice(
                    [
                        b"",
                        b"{",
                        b"null",
                        b"[]",
                        b'"x"',
                        b"{}" * 2,
                        b"[" * 5000 + b"]" * 5000,
                        b'{"key":"\\ud800"}',
                        b'{"key":"a","key":"b"}',
                        b"\xff\xfe{}",
                        b'{"key": 1e999}',
                        b'{"parts": "x"}',
                        b"\x00",
                        b"{" * 100_000,
                    ]
                )
        obj: dict[str, Any] = {}
        for name, prop in route.schema.get("properties", {}).items():
            if hostile and rng.random() < 0.15:
                continue
            obj[name] = self.json_value(rng, name, prop, t, hostile)
        if hostile and rng.random() < 0.2:
            obj[rng.choice(["unknown", "__proto__", ""])] = self.text(rng, "x")
        return json.dumps(obj, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")

    def json_value(
        self, rng: random.Random, name: str, prop: dict[str, Any], t: Targets, hostile: bool
    ) -> Any:
        kind = prop.get("type")
        if hostile and rng.random() < 0.25:
            return rng.choice(
                [None, True, -1, 0, 10**30, -(10**30), 1.5, "x", [], {}, "\ud800", [1] * 5000]
            )
        if name == "key" and t.keys and rng.random() < 0.5:
            return rng.choice(t.keys)
        if kind == "array":
            return [
                {
                    "number": rng.choice([1, 2, 0, -1, 10_001, 10**20]),
                    "etag": rng.choice(['"x"', "", "\x00", "a" * 5000]),
                }
                for _ in range(rng.choice([0, 1, 2, 3, 1001]))
            ]
        if kind == "integer":
            return rng.choice([1, 0, -1, 10**20])
        return self.text(rng, name) if hostile else rng.choice(PLAUSIBLE.get(name, ["k"]))

    # requests ---------------------------------------------------------------------------
    def make(self, index: int, auth: Auth, t: Targets) -> Input:
        rng = random.Random(f"{self.seed}:{index}")
        if rng.random() < 0.2:
            return self._reading(index, rng, auth, t)
        route = rng.choice(self.changing)
        family = rng.choices(
            [
                "form",
                "raw-bytes",
                "structure",
                "multipart-broken",
                "content-type",
                "json",
                "path",
                "csrf",
                "method",
            ],
            weights=[34, 10, 10, 8, 8, 8, 10, 10, 2],
        )[0]
        return self._changing(index, rng, family, route, auth, t)

    def _headers(
        self,
        auth: Auth,
        ctype: str | None,
        token: str | None,
        extra: list[tuple[str, str]],
        cookie: str = "",
    ) -> list[tuple[str | bytes, str | bytes]]:
        cookies = f"nexq_session={auth.session}" + (f"; {cookie}" if cookie else "")
        headers: list[tuple[str | bytes, str | bytes]] = [
            ("Host", self.host),
            ("Cookie", cookies),
            ("Connection", "close"),
        ]
        if ctype is not None:
            headers.append(("Content-Type", ctype))
        if token is not None:
            headers.append(("X-CSRF-Token", token))
        headers.extend(extra)
        return headers

    def _reading(self, index: int, rng: random.Random, auth: Auth, t: Targets) -> Input:
        route = rng.choice(self.reading)
        hostile = rng.random() < 0.8
        path = self.path(rng, route, t, hostile)
        target = path + self.query(rng, route, t, hostile)
        accept = [("Accept", "application/json")] if rng.random() < 0.2 else []
        return Input(
            index, "get", route, route.method, target, self._headers(auth, None, None, accept), b""
        )

    def _changing(
        self, index: int, rng: random.Random, family: str, route: Route, auth: Auth, t: Targets
    ) -> Input:
        if family == "form":
            hostile = rng.random() < 0.7
        else:
            hostile = family not in ("path", "csrf", "method")
        path = self.path(rng, route, t, hostile=family == "path")
        target = path + self.query(rng, route, t, hostile=hostile and rng.random() < 0.5)
        token_value: str | None = auth.csrf
        token = "valid"
        cookie = ""
        extra: list[tuple[str, str]] = []
        if rng.random() < 0.3:
            extra.append(("Accept", "application/json"))
        if family == "csrf":
            token, token_value = rng.choice(
                [
                    ("missing", None),
                    ("empty", ""),
                    ("foreign", auth.foreign_csrf),
                    ("anonymous", auth.anonymous_csrf),
                    ("truncated", auth.csrf[:-1]),
                    ("upper", auth.csrf.upper()),
                    ("zeros", "0" * 64),
                    ("long", auth.csrf * 50),
                ]
            )
            if rng.random() < 0.5:
                extra += [
                    ("Origin", EVIL_ORIGIN),
                    ("Referer", EVIL_ORIGIN + "/attack"),
                    ("Sec-Fetch-Site", "cross-site"),
                ]
            if token == "anonymous":
                cookie = f"nexq_anonymous={auth.anonymous_cookie}"
        body, ctype, in_form, well_formed = self._body(rng, family, route, t, hostile)
        headers_token = token_value
        if in_form and token_value is not None and route.body in ("form", "multipart", None):
            # The token travels in the form (as the pages send it) when the body is a form.
            headers_token = None
            body = self._with_form_token(rng, body, ctype, token_value)
        method = route.method
        if family == "method":
            method = rng.choice(["PATCH", "DELETE", "PUT", "POST", "OPTIONS", "TRACE"])
            if method == route.method:
                method = "PATCH"
        headers = self._headers(auth, ctype, headers_token, extra, cookie)
        # A header value with control characters is refused by the HTTP parser (400) before
        # the console sees the request.
        well_formed = well_formed and all(
            _b(v).isascii() and _b(v).decode().isprintable() for _, v in headers
        )
        if token == "anonymous" and route.path in ANONYMOUS_FORMS:
            token = "valid"  # a signed-out visitor's token is good for logging in, by design
        return Input(index, family, route, method, target, headers, body, token, well_formed)

    def _with_form_token(
        self, rng: random.Random, body: bytes, ctype: str | None, token: str
    ) -> bytes:
        if ctype and ctype.startswith("multipart/form-data; boundary=fz"):
            boundary = ctype.split("boundary=", 1)[1]
            part = multipart([("csrf_token", token, None, None)], boundary)
            return part[: -len(boundary) - 6] + body if body.startswith(b"--") else part
        pair = urlencode_raw([("csrf_token", token)])
        return pair + (b"&" + body if body else b"")

    def _body(
        self, rng: random.Random, family: str, route: Route, t: Targets, hostile: bool
    ) -> tuple[bytes, str | None, bool, bool]:
        """(body, content type, token in the form rather than the header, well-formed)."""
        kind = route.body
        if route.method == "PUT" and kind is None:
            # A raw object body (the console's uploads): any type, any size up to 64 KiB.
            data = rng.choice([b"", b"x", rng.randbytes(rng.randrange(1, 65536))])
            ctype = rng.choice(
                [
                    None,
                    "text/html",
                    "image/png",
                    *CONTENT_TYPES[:4],
                    "a\x7fb",
                    "text/plain; charset=\xff",
                ]
            )
            # With a form's content type the token is looked for in the body, which then
            # cannot be parsed: a 400 before any decision about the token.
            parsable = not (ctype or "").startswith(FORM_TYPES)
            return data, ctype, False, parsable
        if family == "json" or (kind == "json" and family in ("form", "path", "csrf", "method")):
            return (
                self.json_body(rng, route, t, family == "json" or hostile),
                "application/json",
                False,
                True,
            )
        if family == "content-type":
            pairs = self.form_pairs(rng, route, t, hostile=True)
            return urlencode_raw(pairs), rng.choice(CONTENT_TYPES), False, False
        if family == "multipart-broken":
            return self._broken_multipart(rng, route, t)
        if family == "structure":
            roll = rng.random()
            if roll < 0.3:
                return b"", "application/x-www-form-urlencoded", True, True
            if roll < 0.5:
                pairs: list[tuple[str | bytes, str | bytes]] = [
                    (f"field{i}", "v") for i in range(rng.choice([100, 1500, 5000]))
                ]
                return urlencode_raw(pairs), "application/x-www-form-urlencoded", True, True
            if roll < 0.7:
                junk = rng.choice(
                    [
                        b"&&&",
                        b"=",
                        b"==&=",
                        b"a",
                        b"%",
                        b"%zz=%zz",
                        b"+++=+",
                        b"a=1;b=2",
                        b";;",
                        b"\x00=\x00",
                    ]
                )
                return junk, "application/x-www-form-urlencoded", True, True
        use_multipart = kind == "multipart" or (kind == "form" and rng.random() < 0.25)
        pairs = self.form_pairs(rng, route, t, hostile)
        if use_multipart:
            boundary = f"fz{rng.randrange(10**9)}"
            parts: list[tuple[str | bytes, str | bytes, str | None, str | None]] = [
                (n, v, None, None) for n, v in pairs
            ]
            parts += self.file_parts(rng, route)
            if family == "raw-bytes":
                parts = [(n, rng.choice(INVALID_UTF8) + _b(v), f, c) for n, v, f, c in parts]
            return (
                multipart(parts, boundary),
                f"multipart/form-data; boundary={boundary}",
                True,
                True,
            )
        raw = family == "raw-bytes"
        if raw:
            pairs = [(n, rng.choice(INVALID_UTF8) + _b(v)) for n, v in pairs]
        return (
            urlencode_raw(pairs, raw=raw and rng.random() < 0.5),
            "application/x-www-form-urlencoded",
            True,
            True,
        )

    def _broken_multipart(
        self, rng: random.Random, route: Route, t: Targets
    ) -> tuple[bytes, str | None, bool, bool]:
        boundary = f"fz{rng.randrange(10**9)}"
        pairs = self.form_pairs(rng, route, t, hostile=True)
        good = multipart([(n, v, None, None) for n, v in pairs], boundary)
        b = boundary.encode()
        broken = rng.choice(
            [
                good[: len(good) // 2],  # truncated
                good.replace(b"--" + b + b"--", b""),  # no closing boundary
                good.replace(b"\r\n", b"\n"),  # LF only
                good.replace(b"Content-Disposition", b"Content-Dispositio"),
                good.replace(b'name="', b"name="),
                b"--" + b + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n--" + b + b"--\r\n",
                b"--" + b + b"\r\n" + b"X-Header: " + b"h" * 20_000 + b"\r\n\r\nx\r\n",
                b"--" + b + b"\r\nno colon here\r\n\r\nx\r\n--" + b + b"--\r\n",
                b"".join(
                    b"--"
                    + b
                    + b'\r\nContent-Disposition: form-data; name="f'
                    + str(i).encode()
                    + b'"\r\n\r\nv\r\n'
                    for i in range(1500)
                )
                + b"--"
                + b
                + b"--\r\n",
                b"--" + b + b'\r\nContent-Disposition: form-data; name="files"; filename="a"'
                b"\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\r\n"
                b"--" + b + b"--\r\n",
                b"garbage before" + good,
                good + b"garbage after",
            ]
        )
        ctype = rng.choice(
            [
                f"multipart/form-data; boundary={boundary}",
                "multipart/form-data; boundary=other",
                "multipart/form-data",
            ]
        )
        return broken, ctype, False, False


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
