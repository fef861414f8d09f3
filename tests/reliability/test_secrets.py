"""No secret in clear text: after a run that makes and uses passwords, sessions, API tokens and
S3 secrets (and fails with some), none of them is in the server's log or its database.
"""

from __future__ import annotations

import base64
import shutil
import sqlite3
import subprocess
from pathlib import Path

import httpx
from botocore.exceptions import ClientError

from tests.live import Key, LiveServer, nexq_json
from tests.reliability.conftest import unthrottled

PASSWORD = "secret password one"
NEW_PASSWORD = "secret password two"


def dump(db: Path) -> str:
    """``sqlite3 meta.db .dump`` (the standard library's dump where the CLI is missing)."""
    if shutil.which("sqlite3"):
        return subprocess.run(
            ["sqlite3", str(db), ".dump"], capture_output=True, text=True, check=True
        ).stdout
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def test_no_secret_in_logs_or_database(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data")
    live.data_dir.mkdir()
    live.start()
    secrets: dict[str, str] = {}
    try:
        email = "secrets@example.com"
        live.account(email, PASSWORD)
        unthrottled(live, email)
        secrets["password"] = PASSWORD
        api = httpx.Client(base_url=live.api_url, timeout=30)
        # Sessions: a good login, then wrong passwords (they are logged as failures).
        login = api.post("/v1/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 201, login.text
        session = login.json()["token"]
        secrets["session"] = session
        for wrong in ("wrong password one", "wrong password two"):
            secrets[f"attempt {wrong}"] = wrong
            assert api.post("/v1/login", json={"email": email, "password": wrong}).status_code in (
                401,
                429,
            )
        auth = {"Authorization": f"Bearer {session}"}
        changed = api.post(
            "/v1/account/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=auth,
        )
        assert changed.status_code == 204, changed.text
        secrets["new password"] = NEW_PASSWORD
        relogin = api.post("/v1/login", json={"email": email, "password": NEW_PASSWORD})
        token_auth = {"Authorization": f"Bearer {relogin.json()['token']}"}
        secrets["session 2"] = relogin.json()["token"]
        # API keys: made by the CLI and by the API, one regenerated, one used with no scope.
        secrets["cli api key"] = live.api_key(email, "cli")
        made = api.post("/v1/api-keys", json={"name": "api"}, headers=token_auth).json()
        secrets["api key"] = made["token"]
        again = api.post(f"/v1/api-keys/{made['id']}/regenerate", headers=token_auth).json()
        secrets["regenerated api key"] = again["token"]
        assert (
            api.get("/v1/account", headers={"Authorization": f"Bearer {made['token']}"}).status_code
            == 401
        )
        # S3 secrets: by the CLI and by the API; used well and badly.
        cli_key = live.key(email, "cli")
        secrets["cli s3 secret"] = cli_key.secret_access_key
        made_key = api.post(
            "/v1/storage/access-keys", json={"label": "api", "buckets": "all"}, headers=token_auth
        ).json()
        secrets["api s3 secret"] = made_key["secret_access_key"]
        s3 = live.client(cli_key)
        s3.create_bucket(Bucket="secrets")
        s3.put_object(Bucket="secrets", Key="k", Body=b"v")
        presigned = s3.generate_presigned_url(
            "get_object", Params={"Bucket": "secrets", "Key": "k"}
        )
        assert httpx.get(presigned).status_code == 200
        wrong = live.client(Key(cli_key.access_key_id, made_key["secret_access_key"], email))
        try:
            wrong.list_buckets()
            raise AssertionError("a wrong secret was accepted")
        except ClientError:
            pass
        # The operator's view of the keys (never their secrets) goes through the CLI too.
        listed = nexq_json(
            "admin", "access-key", "list", "--account", email, data_dir=live.data_dir
        )
        assert cli_key.secret_access_key not in str(listed)
    finally:
        live.stop()
    logs = {p.name: p.read_bytes() for p in tmp_path.glob("server-*.log")}
    assert logs, "no server log to scan"
    stores = {"meta.db .dump": dump(live.data_dir / "meta.db").encode()}
    for path in live.data_dir.glob("meta.db*"):
        stores[path.name] = path.read_bytes()
    found = []
    for what, secret in secrets.items():
        needles = {secret.encode(), base64.b64encode(secret.encode())}
        for where, data in {**logs, **stores}.items():
            if any(needle in data for needle in needles):
                found.append(f"{what} in {where}")
    assert not found, found
    assert len(secrets) >= 10
