"""dcp's failures: one line on stderr, no traceback, and the exit code of docs/api.md."""

from __future__ import annotations

import importlib.metadata
import json

from tests.cli.conftest import Dcp, api_url, assert_one_line_error
from tests.live import LiveServer, free_port


def test_a_bad_key_exits_3(server: LiveServer, dcp: Dcp) -> None:
    dcp("config", "set", "api-url", api_url(server))
    dcp("config", "set", "api-key", "nxq_" + "0" * 40)
    for args in [("storage", "buckets", "list"), ("account", "show"), ("api-keys", "list")]:
        dcp.fails(3, *args)
        dcp.fails(3, "--output", "json", *args)


def test_a_missing_key_exits_3_and_says_how_to_get_one(server: LiveServer, dcp: Dcp) -> None:
    dcp("config", "set", "api-url", api_url(server))
    message = dcp.fails(3, "storage", "buckets", "list")
    assert message == ("dcp: error: no API key: run `dcp login` or `dcp config set api-key KEY`")


def test_an_unreachable_api_exits_7(dcp: Dcp) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    dcp("config", "set", "api-key", "nxq_" + "0" * 40)
    assert "127.0.0.1" in dcp.fails(7, "--api-url", closed, "storage", "buckets", "list")
    dcp.fails(7, "--api-url", "http://nonexistent.invalid", "account", "show")
    dcp.fails(7, "login", "--api-url", closed, "--email", "a@b.c", "--password-stdin", stdin="x\n")


def test_the_s3_endpoint_is_named_as_not_the_api(server: LiveServer, dcp: Dcp) -> None:
    s3_url = f"http://127.0.0.1:{server.s3_port}"
    dcp("config", "set", "api-key", "nxq_" + "0" * 40)
    message = dcp.fails(7, "--api-url", s3_url, "storage", "buckets", "list")
    assert message == (
        f"dcp: error: {s3_url} is not a Nexq API: it answered as an S3 endpoint. Use the "
        "control plane's URL (port 8080 by default), not the S3 one"
    )
    login = dcp.fails(
        7, "login", "--api-url", s3_url, "--email", "a@b.c", "--password-stdin", stdin="x\n"
    )
    assert "is not a Nexq API" in login


def test_wrong_usage_exits_2(dcp: Dcp) -> None:
    for args in [
        ("--output", "xml", "config", "show"),
        ("storage", "buckets", "frobnicate"),
        ("storage", "objects", "presign", "bucket", "key", "--method", "POST"),
        ("storage", "objects", "presign", "bucket", "key", "--expires-in", "soon"),
        ("config", "set", "api-url", "ftp://example.com"),
        ("login", "--password-stdin"),
    ]:
        proc = dcp(*args, code=2)
        assert_one_line_error(proc.stderr)
    # A bare group shows what it can do (and still says it was not a command).
    proc = dcp("storage", code=2)
    assert "buckets" in proc.stdout + proc.stderr


def test_the_error_detail_comes_from_the_problem_body(server: LiveServer, user: Dcp) -> None:
    message = user.fails(6, "storage", "buckets", "create", "x")
    # Whatever the wording, it is the server's detail about the name, not a status line.
    assert "name" in message.lower()
    assert "HTTP 4" not in message


def test_global_options_work_anywhere_on_the_line(user: Dcp) -> None:
    """As aws-cli and doctl: `dcp storage buckets list --output json` means the same as
    `dcp --output json storage buckets list`; a value that reads like one is left alone."""
    user("storage", "buckets", "create", "anywhere")
    before = json.loads(user("--output", "json", "storage", "buckets", "list").stdout)
    after = json.loads(user("storage", "buckets", "list", "--output", "json").stdout)
    short = json.loads(user("storage", "buckets", "list", "-o", "json").stdout)
    assert before == after == short
    assert "anywhere" in [b["name"] for b in after]
    made = json.loads(
        user("support", "tickets", "create", "--subject", "--output", "--service",
             "Object Storage", "--severity", "Low", "--description", "x", "-o", "json").stdout
    )  # fmt: skip
    assert made["subject"] == "--output"
    assert "No such option: --bogus" in user.fails(2, "storage", "buckets", "list", "--bogus")


def test_version(dcp: Dcp) -> None:
    printed = dcp("--version").stdout.strip()
    assert printed == f"dcp {importlib.metadata.version('nexq')}"
