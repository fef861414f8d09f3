"""Account deletion on every surface (REST, dcp, console, `nexq admin`): refused, naming what
is left, while the account holds resources; after it, sign-in is refused and every API key
and S3 access key stops at once, the email may sign up again, and the row stays for the
operator's invoices."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.cli.conftest import Dcp, admin_api_key, api_url
from tests.console.conftest import PASSWORD, csrf_of, s3_client, session_cookie
from tests.live import LiveServer, nexq, nexq_json

TIMEOUT = 30


def api(server: LiveServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.api_url, headers=headers, timeout=TIMEOUT)


def login_status(server: LiveServer, email: str) -> int:
    with api(server) as anonymous:
        return anonymous.post("/v1/login", json={"email": email, "password": PASSWORD}).status_code


def test_the_api_refuses_while_resources_are_left_then_every_key_stops(
    server: LiveServer, email: str
) -> None:
    token = admin_api_key(server, email)["token"]
    with api(server, token) as client:
        for name in ("photos", "logs"):
            made = client.post("/v1/storage/buckets", json={"name": f"{name}-{email[:8]}"})
            assert made.status_code == 201, made.text
        key = client.post("/v1/storage/access-keys", json={"label": "t", "buckets": "all"}).json()
        ticket = client.post(
            "/v1/support/tickets",
            json={
                "subject": "Help",
                "service": "Object Storage",
                "severity": "Low",
                "description": "A question.",
            },
        )
        assert ticket.status_code == 201, ticket.text
        s3 = s3_client(server, key["access_key_id"], key["secret_access_key"])
        assert len(s3.list_buckets()["Buckets"]) == 2

        wrong = client.request("DELETE", "/v1/account", json={"password": "not the password"})
        assert wrong.status_code == 400 and wrong.json()["detail"] == "The password is wrong."
        refused = client.request("DELETE", "/v1/account", json={"password": PASSWORD})
        assert refused.status_code == 409, refused.text
        prefix = email[:8]
        assert refused.json()["detail"] == (
            f"The account still has 2 buckets (logs-{prefix}, photos-{prefix}); delete them first."
        )
        assert client.get("/v1/account").status_code == 200  # nothing happened
        for name in ("photos", "logs"):
            assert client.delete(f"/v1/storage/buckets/{name}-{prefix}").status_code == 204

        done = client.request("DELETE", "/v1/account", json={"password": PASSWORD})
        assert done.status_code == 204, done.text
        # At once, with no wait: the API key, the access key, the password.
        assert client.get("/v1/account").status_code == 401
    with pytest.raises(ClientError) as refused_s3:
        s3.list_buckets()
    assert refused_s3.value.response["Error"]["Code"] in ("InvalidAccessKeyId", "AccessDenied")
    assert login_status(server, email) == 401

    (row,) = server.sql("SELECT email, status FROM accounts WHERE email LIKE ?", f"%:{email}")
    assert row[1] == "deleted"
    (status,) = server.sql(
        "SELECT t.status FROM support_tickets t JOIN accounts a ON a.id = t.account_id "
        "WHERE a.email = ?",
        row[0],
    )
    assert status[0] == "Closed"
    # The email is free again: a new account, which starts with nothing.
    assert server.account(email) == email
    assert login_status(server, email) == 201


def test_dcp_asks_for_the_email_and_forgets_its_key(
    server: LiveServer, email: str, dcp: Dcp
) -> None:
    dcp("config", "set", "api-url", api_url(server))
    dcp("login", "--email", email, stdin=PASSWORD + "\n")
    dcp("storage", "buckets", "create", f"shop-{email[:8]}")
    refused = dcp.fails(5, "account", "delete", stdin=f"{email}\n{PASSWORD}\n")
    assert f"1 bucket (shop-{email[:8]}); delete them first" in refused
    mistyped = dcp.fails(2, "account", "delete", stdin="someone@example.com\n")
    assert "nothing was deleted" in mistyped
    dcp("storage", "buckets", "delete", f"shop-{email[:8]}")

    done = dcp("account", "delete", stdin=f"{email}\n{PASSWORD}\n")
    assert f"Deleted the account {email}." in done.stdout
    assert "api_key" not in dcp.config.read_text()
    assert login_status(server, email) == 401


def test_dcp_yes_skips_the_email(server: LiveServer, email: str, user: Dcp) -> None:
    user("account", "delete", "--yes", "--password-stdin", stdin=PASSWORD + "\n")
    assert login_status(server, email) == 401


def test_the_console_deletes_with_the_email_and_password(server: LiveServer, email: str) -> None:
    session = session_cookie(server, email)
    with httpx.Client(
        base_url=server.api_url, timeout=TIMEOUT, cookies={"nexq_session": session}
    ) as browser:
        page = browser.get("/account/password")
        assert page.status_code == 200 and "Delete account" in page.text
        csrf = csrf_of(page.text)
        mistyped = browser.post(
            "/account/delete",
            data={"email": "other@example.com", "password": PASSWORD, "csrf_token": csrf},
        )
        assert mistyped.status_code == 400 and "nothing was deleted" in mistyped.text
        wrong = browser.post(
            "/account/delete", data={"email": email, "password": "wrong one!", "csrf_token": csrf}
        )
        assert wrong.status_code == 400 and "The password is wrong." in wrong.text
        with api(server, admin_api_key(server, email)["token"]) as client:
            bucket = f"album-{email[:8]}"
            assert client.post("/v1/storage/buckets", json={"name": bucket}).status_code == 201
            refused = browser.post(
                "/account/delete",
                data={"email": email, "password": PASSWORD, "csrf_token": csrf},
            )
            assert refused.status_code == 409
            assert f"The account still has 1 bucket ({bucket}); delete them first." in refused.text
            assert client.delete(f"/v1/storage/buckets/{bucket}").status_code == 204
        done = browser.post(
            "/account/delete",
            data={"email": email.upper(), "password": PASSWORD, "csrf_token": csrf},
        )
        assert done.status_code == 303 and done.headers["location"] == "/login?reason=deleted"
        assert "Your account has been deleted." in browser.get(done.headers["location"]).text
    with api(server, session) as client:
        assert client.get("/v1/account").status_code == 401
    assert login_status(server, email) == 401


def test_the_operator_command_refuses_then_deletes(server: LiveServer, email: str) -> None:
    token = admin_api_key(server, email)["token"]
    with api(server, token) as client:
        assert (
            client.post("/v1/storage/buckets", json={"name": f"k-{email[:8]}"}).status_code == 201
        )
        refused = nexq("admin", "account", "delete", email, data_dir=server.data_dir, check=False)
        assert refused.returncode == 1
        assert f"1 bucket (k-{email[:8]}); delete them first" in refused.stderr
        assert client.delete(f"/v1/storage/buckets/k-{email[:8]}").status_code == 204
        done = nexq_json("admin", "account", "delete", email, data_dir=server.data_dir)
        assert done["email"] == email and done["status"] == "deleted"
        assert client.get("/v1/account").status_code == 401
    listed = nexq_json("admin", "account", "list", data_dir=server.data_dir)
    (kept,) = [a for a in listed if a["id"] == done["id"]]
    assert kept["status"] == "deleted" and kept["email"].endswith(f":{email}")
    again = nexq("admin", "account", "delete", email, data_dir=server.data_dir, check=False)
    assert again.returncode == 1 and f"No account with the email {email}" in again.stderr
