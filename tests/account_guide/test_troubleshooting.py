"""What the Account, Billing and Support guides quote that their blocks do not print,
provoked for real on a live Nexq: each troubleshooting row's message, the refusals the
Limits & Quotas page shows (problem+json, dcp, S3 XML, a rate), and a budget alert. A quote
is compared with what Nexq answers with its numbers, IDs and months set aside (the page's
example numbers are examples); its status is the one the row names."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.account_guide.reader import bearer, operator_api, page_text
from tests.compat.tools import base_env
from tests.live import Key, LiveServer, nexq_json

PASSWORD = "correct horse battery staple"
# What differs from one run to the next: IDs, invoice numbers, every number.
_VARYING = re.compile(r"[0-9a-f]{32}|NQ-\d{6}-[0-9A-F]{8}|\d+(?:\.\d+)?")
ALERT_WITHIN = 20.0  # budgets are checked every 5 s
DCP = str(Path(sys.executable).parent / "dcp")  # as pip installs it beside this interpreter


def shape(text: str) -> str:
    return _VARYING.sub("#", text)


def quoted(section: str, page: str, message: str) -> None:
    """``message`` is on the page, but for its numbers and IDs."""
    text = " ".join(page_text(section, page).split())
    assert shape(message) in shape(text), f"{section}/{page} does not quote {message!r}"


def refused(answer: httpx.Response, status: int) -> str:
    """The ``detail`` of a problem+json refusal with ``status``."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"] == "application/problem+json"
    return str(answer.json()["detail"])


def sign_up(server: LiveServer, email: str) -> httpx.Client:
    """A new account, through the API as a reader makes one, with an API key of every scope."""
    made = httpx.post(
        f"{server.api_url}/v1/signup", json={"email": email, "password": PASSWORD}, timeout=30
    )
    assert made.status_code == 201, made.text
    session = httpx.post(
        f"{server.api_url}/v1/login", json={"email": email, "password": PASSWORD}, timeout=30
    ).json()["token"]
    with bearer(server, session) as api:
        token = api.post("/api-keys", json={"name": "everything"}).json()["token"]
    return bearer(server, token)


def key_with(api: httpx.Client, *scopes: str) -> str:
    answer = api.post("/api-keys", json={"name": "+".join(scopes), "scopes": list(scopes)})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


@pytest.fixture(scope="module")
def ada(server: LiveServer) -> Iterator[httpx.Client]:
    with sign_up(server, "ada@example.com") as api:
        yield api


# -- Account overview ---------------------------------------------------------------------


def test_sign_up_and_log_in_refusals(server: LiveServer, ada: httpx.Client) -> None:
    url = server.api_url

    def login(email: str, password: str) -> httpx.Response:
        return httpx.post(f"{url}/v1/login", json={"email": email, "password": password})

    assert login("ADA@example.com", PASSWORD).status_code == 201  # not case-sensitive
    wrong = refused(login("ada@example.com", "not the password"), 401)
    quoted("account", "overview.md", wrong)
    taken = httpx.post(f"{url}/v1/signup", json={"email": "ada@example.com", "password": PASSWORD})
    quoted("account", "overview.md", refused(taken, 409))
    short = httpx.post(f"{url}/v1/signup", json={"email": "bo@example.com", "password": "short1"})
    quoted("account", "overview.md", refused(short, 400))
    # Five failures in a row from one address, then that address waits.
    sign_up(server, "locked@example.com").close()
    for _ in range(5):
        assert login("locked@example.com", "guess").status_code == 401
    waiting = login("locked@example.com", PASSWORD)
    assert refused(waiting, 429).endswith("try again in 10 seconds.")
    assert waiting.headers["retry-after"] == "10"
    quoted("account", "overview.md", waiting.json()["detail"])


def test_the_console_refuses_two_passwords_that_differ(server: LiveServer) -> None:
    with httpx.Client(base_url=server.api_url, timeout=30) as browser:
        form = browser.get("/signup").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        answer = browser.post(
            "/signup",
            data={
                "csrf_token": token[1],
                "email": "cy@example.com",
                "password": PASSWORD,
                "confirm": PASSWORD + "!",
            },
        )
    assert answer.status_code == 400
    said = "The two passwords differ; type the same password twice."
    assert said in html.unescape(answer.text)
    quoted("account", "overview.md", said)


def test_password_and_session_refusals(server: LiveServer, ada: httpx.Client) -> None:
    session = httpx.post(
        f"{server.api_url}/v1/login", json={"email": "ada@example.com", "password": PASSWORD}
    ).json()["token"]
    with bearer(server, session) as api:
        wrong = api.post(
            "/account/password",
            json={"current_password": "not it at all", "new_password": PASSWORD + "2"},
        )
        quoted("account", "overview.md", refused(wrong, 400))
        assert api.post("/logout").status_code == 204
        quoted("account", "overview.md", refused(api.get("/account"), 401))


def test_dcp_without_a_key(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {**base_env(tmp_path_factory.mktemp("keyless")), "DCP_API_URL": server.api_url}
    proc = subprocess.run(
        [DCP, "account", "show"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 3
    said = proc.stderr.strip()
    assert said == "dcp: error: no API key: run `dcp login` or `dcp config set api-key KEY`"
    quoted("account", "overview.md", said)


# -- API keys and Limits & quotas ------------------------------------------------------------


def test_api_key_refusals(server: LiveServer, ada: httpx.Client) -> None:
    with bearer(server, "nxq_" + "x" * 40) as stranger:
        quoted("account", "api-keys.md", refused(stranger.get("/account"), 401))
    with bearer(server, key_with(ada, "storage:read")) as narrow:
        missing = refused(narrow.post("/storage/buckets", json={"name": "nope-bucket"}), 403)
    assert missing == "This action needs the scope 'storage:write', which the API key lacks."
    quoted("account", "api-keys.md", missing)
    with bearer(server, key_with(ada, "account:write", "storage:read")) as maker:
        wider = maker.post("/api-keys", json={"name": "wider", "scopes": ["billing:read"]})
        quoted("account", "api-keys.md", refused(wider, 403))
    unknown = refused(ada.post("/api-keys", json={"name": "x", "scopes": ["storage:admin"]}), 400)
    prefix = "scopes: storage:admin cannot be granted; choose from account:read, "
    assert unknown.startswith(prefix)
    quoted("account", "api-keys.md", prefix + "…")
    made = ada.post("/api-keys", json={"name": "to revoke"}).json()
    assert ada.post(f"/api-keys/{made['id']}/revoke").status_code == 200
    again = refused(ada.post(f"/api-keys/{made['id']}/regenerate"), 400)
    quoted("account", "api-keys.md", again)
    missing_key = refused(ada.get(f"/api-keys/{'0' * 32}"), 404)
    quoted("account", "api-keys.md", missing_key)


def test_one_api_key_too_many(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The refusal Limits & Quotas shows, as the API and dcp say it, and the API keys row."""
    with sign_up(server, "keys@example.com") as api:
        while (made := api.post("/api-keys", json={"name": "one more"})).status_code == 201:
            pass
        assert made.status_code == 403
        shown = page_text("account", "limits-quotas.md")
        assert (
            "HTTP/1.1 403 Forbidden\ncontent-type: application/problem+json\n\n" + made.text
        ) in shown
        assert made.json()["limit"] == "api_keys"
        quoted("account", "api-keys.md", made.json()["detail"])
        token = api.headers["authorization"].removeprefix("Bearer ")
    env = {
        **base_env(tmp_path_factory.mktemp("dcp")),
        "DCP_API_URL": server.api_url,
        "DCP_API_KEY": token,
    }
    proc = subprocess.run(
        [DCP, "api-keys", "create", "--name", "one too many"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3
    assert f"```text\n{proc.stderr}```" in shown


def test_a_move_to_a_smaller_tier_that_does_not_fit(server: LiveServer) -> None:
    with sign_up(server, "grows@example.com") as api:
        assert api.put("/account/tier", json={"tier": "developer"}).status_code == 200
        for n in range(11):  # 12 keys with the first one
            assert api.post("/api-keys", json={"name": f"key {n}"}).status_code == 201
        down = refused(api.put("/account/tier", json={"tier": "free"}), 409)
        assert down == (
            "Cannot move to Free: current usage is above its limits: "
            "api_keys (using 12, Free allows 10)."
        )
        quoted("account", "service-tiers.md", down)
        quoted(
            "account",
            "service-tiers.md",
            refused(api.put("/account/tier", json={"tier": "gold"}), 400),
        )
        with bearer(server, key_with(api, "account:write")) as narrow:
            quoted(
                "account",
                "service-tiers.md",
                refused(narrow.put("/account/tier", json={"tier": "free"}), 403),
            )


def test_a_rate_refusal(server: LiveServer) -> None:
    with sign_up(server, "busy@example.com") as api:
        server.raise_limits("busy@example.com", api_rps=1)
        deadline = time.monotonic() + 10
        while (answer := api.get("/account")).status_code == 200:
            assert time.monotonic() < deadline, "no request was refused"
    assert answer.status_code == 429 and answer.headers["retry-after"] == "1"
    assert answer.text in page_text("account", "limits-quotas.md")
    quoted("account", "limits-quotas.md", answer.json()["detail"])


def test_one_bucket_too_many_in_s3(server: LiveServer, ada: httpx.Client) -> None:
    """The S3 refusal Limits & Quotas shows: 403 QuotaExceeded, as S3 writes it."""
    key: Key = server.key("ada@example.com", "quota")
    s3 = server.client(key)
    for n in range(10):
        s3.create_bucket(Bucket=f"ada-quota-{n}")
    url = s3.generate_presigned_url("create_bucket", Params={"Bucket": "team-logs"})
    answer = httpx.put(url, timeout=30)
    assert answer.status_code == 403
    xml = re.sub(r"<RequestId>[^<]*</RequestId>", "<RequestId>…</RequestId>", answer.text)
    xml = re.sub(r"<HostId>[^<]*</HostId>", "<HostId>…</HostId>", xml)
    assert xml in page_text("account", "limits-quotas.md")
    with pytest.raises(ClientError) as raised:
        s3.create_bucket(Bucket="team-logs")
    assert raised.value.response["Error"]["Code"] == "QuotaExceeded"


def test_a_suspended_account(server: LiveServer) -> None:
    with sign_up(server, "gone@example.com") as api:
        nexq_json("admin", "account", "suspend", "gone@example.com", data_dir=server.data_dir)
        said = refused(api.get("/account"), 403)
    assert said == "The account is suspended; contact the operator."
    quoted("account", "faq.md", said)


# -- Billing ---------------------------------------------------------------------------------


def test_billing_refusals(server: LiveServer, ada: httpx.Client) -> None:
    quoted("billing", "overview.md", refused(ada.get("/billing/estimate?month=01-2026"), 400))
    later = f"{datetime.now(UTC).year + 3}-01"
    quoted("billing", "overview.md", refused(ada.get(f"/billing/estimate?month={later}"), 400))
    quoted("billing", "overview.md", refused(ada.get("/billing/invoices/NQ-202512-00000000"), 404))
    card = {"number": "4242 4242 4242 4241", "exp_month": 12, "exp_year": 2035, "holder": "A"}
    quoted("billing", "overview.md", refused(ada.post("/billing/payment-methods", json=card), 400))
    card.update(number="4242 4242 4242 4242", exp_year=2001)
    quoted("billing", "overview.md", refused(ada.post("/billing/payment-methods", json=card), 400))
    budget = {"amount": "25.00", "webhook_url": "http://10.0.0.5/hook"}
    quoted("billing", "overview.md", refused(ada.put("/billing/budget", json=budget), 400))
    with bearer(server, key_with(ada, "billing:read")) as reader:
        card.update(exp_year=2035)
        quoted(
            "billing",
            "overview.md",
            refused(reader.post("/billing/payment-methods", json=card), 403),
        )


def test_a_budget_alert(server: LiveServer) -> None:
    """The notification the Billing page shows, once the month's charges cross a threshold:
    the account keeps 1 PB for an hour of this month (over 1,300 GB-months at 0.015)."""
    with sign_up(server, "spender@example.com") as api:
        account_id = api.get("/account").json()["id"]
        server.sql(
            "INSERT INTO usage_samples(service, meter, resource, hour, account_id, quantity) "
            "VALUES ('storage', 'storage_gb_month', 'guide-alert', ?, ?, ?)",
            int(time.time()) // 3600,
            account_id,
            10**15,
        )
        answer = api.put("/billing/budget", json={"amount": "25.00", "thresholds": [50]})
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + ALERT_WITHIN
        while not (told := api.get("/notifications").json()):
            assert time.monotonic() < deadline, "no budget alert"
            time.sleep(0.5)
    (alert,) = told
    assert alert["kind"] == "budget" and not alert["read"]
    assert re.fullmatch(
        r"Your charges for \d{4}-\d\d reached 50% of your budget: \d+\.\d\d of 25\.00 USD\.",
        alert["message"],
    )
    quoted("billing", "overview.md", alert["message"])


# -- Support ---------------------------------------------------------------------------------


def test_support_refusals(server: LiveServer) -> None:
    with sign_up(server, "asks@example.com") as api:
        ticket = {"subject": "s", "service": "Billing", "severity": "Low", "description": "d"}
        made = [api.post("/support/tickets", json=ticket).json() for _ in range(3)]
        full = refused(api.post("/support/tickets", json=ticket), 403)
        assert full.startswith("The account already has 3 open tickets")
        quoted("support", "overview.md", full)
        first = made[0]["id"]
        open_already = refused(api.post(f"/support/tickets/{first}/reopen"), 400)
        quoted("support", "overview.md", open_already)
        assert api.post(f"/support/tickets/{first}/close").status_code == 200
        closed = refused(api.post(f"/support/tickets/{first}/replies", json={"body": "b"}), 409)
        quoted("support", "overview.md", closed)
        server.sql(
            "UPDATE support_tickets SET closed_at = closed_at - ? WHERE id = ?", 15 * 86400, first
        )
        too_late = refused(api.post(f"/support/tickets/{first}/reopen"), 409)
        assert "was closed more than 14 days ago" in too_late
        quoted("support", "overview.md", too_late)
        number = made[1]["number"]
        quoted("support", "overview.md", refused(api.get(f"/support/tickets/{number}"), 404))
        assert api.post(f"/support/tickets/{first}/close").status_code == 200
        for field, value, status in (("service", "S3", 400), ("severity", "Urgent", 400)):
            wrong = api.post("/support/tickets", json={**ticket, field: value})
            quoted("support", "overview.md", refused(wrong, status))
        second = made[1]["id"]
        six = [("files", (f"f{n}.log", b"x")) for n in range(6)]
        many = api.post(f"/support/tickets/{second}/attachments", files=six, data={"body": "b"})
        quoted("support", "overview.md", refused(many, 400))
        big = [("files", ("big.log", b"x" * (10 * 1024 * 1024 + 1)))]
        large = api.post(f"/support/tickets/{second}/attachments", files=big, data={"body": "b"})
        quoted("support", "overview.md", refused(large, 400))
        messages = api.get(f"/support/tickets/{second}").json()["messages"]
        assert len(messages) == 1  # nothing of either refused message was kept


def test_support_answers_as_the_operator(server: LiveServer, ada: httpx.Client) -> None:
    """The statuses the Support page names follow who wrote last."""
    ticket = {"subject": "q", "service": "Account", "severity": "Medium", "description": "d"}
    made = ada.post("/support/tickets", json=ticket).json()
    with operator_api(server) as support:
        answer = support.post(f"/support/tickets/{made['id']}/replies", json={"body": "a"})
        assert answer.status_code == 201
    assert ada.get(f"/support/tickets/{made['id']}").json()["status"] == "Waiting on customer"
    ada.post(f"/support/tickets/{made['id']}/replies", json={"body": "thanks"})
    assert ada.get(f"/support/tickets/{made['id']}").json()["status"] == "Waiting on support"
    told = [n["message"] for n in ada.get("/notifications").json() if n["kind"] == "support"]
    assert told == [f"Support replied on ticket #{made['number']} (q):\n\na"]
