"""Accounts over the REST API: sign-up, login sessions, passwords, suspension by an operator."""

from __future__ import annotations

import stat

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.conftest import PASSWORD, api, assert_problem, fresh_email
from tests.live import LiveServer


def login(server: LiveServer, email: str, password: str = PASSWORD) -> str:
    with api(server) as anonymous:
        response = anonymous.post("/v1/login", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token"].startswith("nxs_")
    assert body["account"]["email"].lower() == email.lower()
    return str(body["token"])


def test_signup_then_login_with_any_case_of_the_email(server: LiveServer) -> None:
    email = fresh_email("signup")
    with api(server) as anonymous:
        created = anonymous.post("/v1/signup", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201
        assert created.json()["email"] == email and created.json()["role"] == "customer"
        again = anonymous.post("/v1/signup", json={"email": email.upper(), "password": PASSWORD})
        assert_problem(again, 409, "conflict")
    token = login(server, email.upper())
    with api(server, token) as session:
        assert session.get("/v1/account").json()["email"] == email


def test_signup_states_the_password_rules(server: LiveServer) -> None:
    with api(server) as anonymous:
        short = anonymous.post("/v1/signup", json={"email": fresh_email(), "password": "short"})
        body = assert_problem(short, 400, "invalid")
        assert "10 to 1024 characters" in str(body["detail"])
        email = fresh_email()
        same = anonymous.post("/v1/signup", json={"email": email, "password": email})
        assert "must not be the email" in str(assert_problem(same, 400, "invalid")["detail"])
        bad = anonymous.post("/v1/signup", json={"email": "not-an-email", "password": PASSWORD})
        assert "not an email" in str(assert_problem(bad, 400, "invalid")["detail"])
        missing = anonymous.post("/v1/signup", json={"email": fresh_email()})
        body = assert_problem(missing, 422, "validation")
        assert body["errors"] == [{"field": "password", "message": "Field required"}]
        garbled = anonymous.post(
            "/v1/signup", content=b'{"email": ', headers={"content-type": "application/json"}
        )
        body = assert_problem(garbled, 422, "validation")
        assert body["errors"] == [{"field": "body", "message": "the body is not valid JSON"}]
        assert body["detail"] == "body: the body is not valid JSON"


def test_wrong_password_and_unknown_email_look_the_same(server: LiveServer, user: str) -> None:
    with api(server) as anonymous:
        wrong = anonymous.post("/v1/login", json={"email": user, "password": "wrong password!"})
        unknown = anonymous.post(
            "/v1/login", json={"email": fresh_email(), "password": "wrong password!"}
        )
    assert (
        assert_problem(wrong, 401, "unauthenticated")["detail"]
        == (assert_problem(unknown, 401, "unauthenticated")["detail"])
    )


def test_logout_ends_the_session(server: LiveServer, user: str) -> None:
    token = login(server, user)
    with api(server, token) as session:
        assert session.get("/v1/account").status_code == 200
        assert session.post("/v1/logout").status_code == 204
        assert_problem(session.get("/v1/account"), 401, "unauthenticated")


def test_logout_with_an_api_key_is_refused(client: httpx.Client) -> None:
    assert_problem(client.post("/v1/logout"), 400, "invalid")


def test_password_change_ends_other_sessions(server: LiveServer) -> None:
    email = server.account(fresh_email("pw"), PASSWORD)
    current, other = login(server, email), login(server, email)
    new = "a much better passphrase"
    with api(server, current) as session:
        wrong = session.post(
            "/v1/account/password",
            json={"current_password": "not it at all", "new_password": new},
        )
        assert "current password is wrong" in str(assert_problem(wrong, 400, "invalid")["detail"])
        changed = session.post(
            "/v1/account/password", json={"current_password": PASSWORD, "new_password": new}
        )
        assert changed.status_code == 204
        assert session.get("/v1/account").status_code == 200  # this session stays
    with api(server, other) as ended:
        assert_problem(ended.get("/v1/account"), 401, "unauthenticated")
    with api(server) as anonymous:
        old = anonymous.post("/v1/login", json={"email": email, "password": PASSWORD})
        assert_problem(old, 401, "unauthenticated")
    login(server, email, new)


def test_password_change_needs_account_write(server: LiveServer, user: str) -> None:
    with api(server, server.api_key(user, scopes=("account:read",))) as reader:
        response = reader.post(
            "/v1/account/password",
            json={"current_password": PASSWORD, "new_password": "whatever it is now"},
        )
    assert assert_problem(response, 403, "missing-scope")["scope"] == "account:write"


@pytest.fixture(scope="module")
def operator(server: LiveServer) -> httpx.Client:
    email = server.account(fresh_email("op"), PASSWORD)
    # Promoted through the CLI's --operator flag: there is no API for making operators.
    from tests.live import nexq

    nexq(
        "admin",
        "account",
        "create",
        "--email",
        "root-" + email,
        "--password",
        PASSWORD,
        "--operator",
        data_dir=server.data_dir,
    )
    return api(server, server.api_key("root-" + email))


def test_customers_cannot_administer(server: LiveServer, client: httpx.Client) -> None:
    assert_problem(client.get("/v1/admin/accounts"), 403, "missing-scope")
    response = client.post("/v1/api-keys", json={"name": "x", "scopes": ["admin:read"]})
    assert "admin:read" in str(assert_problem(response, 400, "invalid")["detail"])


def test_operator_lists_accounts_page_by_page(server: LiveServer, operator: httpx.Client) -> None:
    for _ in range(3):
        server.account(fresh_email("listed"), PASSWORD)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = operator.get("/v1/admin/accounts", params=params).json()
        assert len(page["items"]) <= 2
        seen += [a["email"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages >= 3 and len(seen) == len(set(seen)) >= 5
    found = operator.get("/v1/admin/accounts", params={"email": seen[-1].upper()}).json()
    assert [a["email"] for a in found["items"]] == [seen[-1]]
    assert_problem(
        operator.get("/v1/admin/accounts", params={"cursor": "garbage!"}), 400, "invalid"
    )


def test_suspension_stops_api_keys_sessions_and_s3_keys_at_once(
    server: LiveServer, operator: httpx.Client
) -> None:
    email = server.account(fresh_email("sus"), PASSWORD)
    token = server.api_key(email)
    session = login(server, email)
    s3_key = server.key(email)
    s3 = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=s3_key.access_key_id,
        aws_secret_access_key=s3_key.secret_access_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )
    s3.list_buckets()
    account_id = api(server, token).get("/v1/account").json()["id"]
    suspended = operator.post(f"/v1/admin/accounts/{account_id}/suspend")
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    for credential in (token, session):
        with api(server, credential) as caller:
            assert_problem(caller.get("/v1/account"), 403, "account-suspended")
    with pytest.raises(ClientError) as refused:
        s3.list_buckets()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with api(server) as anonymous:
        login_refused = anonymous.post("/v1/login", json={"email": email, "password": PASSWORD})
        assert_problem(login_refused, 403, "account-suspended")
    resumed = operator.post(f"/v1/admin/accounts/{account_id}/resume")
    assert resumed.json()["status"] == "active"
    assert api(server, token).get("/v1/account").status_code == 200
    s3.list_buckets()


def test_operator_cannot_suspend_themself(operator: httpx.Client) -> None:
    me = operator.get("/v1/account").json()["id"]
    assert_problem(operator.post(f"/v1/admin/accounts/{me}/suspend"), 400, "invalid")
    assert_problem(operator.post("/v1/admin/accounts/nope/suspend"), 404, "not-found")


def test_repeated_wrong_passwords_slow_logins_down(server: LiveServer) -> None:
    email = server.account(fresh_email("guess"), PASSWORD)
    with api(server) as anonymous:
        for _ in range(5):
            wrong = anonymous.post("/v1/login", json={"email": email, "password": "guess guess!"})
            assert_problem(wrong, 401, "unauthenticated")
        # Blocked now, even with the right password: the guesser cannot tell which is right.
        blocked = anonymous.post("/v1/login", json={"email": email, "password": PASSWORD})
        body = assert_problem(blocked, 429, "too-many-attempts")
        assert 0 < int(blocked.headers["retry-after"]) <= 10
        assert body["retry_after"] == int(blocked.headers["retry-after"])


def test_first_start_puts_the_operator_password_in_a_private_file(server: LiveServer) -> None:
    """Not on stdout or stderr, which service managers keep in their journals."""
    path = server.data_dir / "operator-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    assert len(password) >= 20
    output = (server.data_dir.parent / f"server-{server.s3_port}.log").read_text()
    assert "First start: created the operator account operator@nexq.local" in output
    assert str(path.resolve()) in output  # where it is, and nothing more
    assert password not in output
    token = login(server, "operator@nexq.local", password)
    with api(server, token) as session:
        assert session.get("/v1/account").json()["role"] == "operator"
