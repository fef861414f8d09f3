"""A bucket's static website over the REST API (/v1/storage/buckets/{name}/website), checked
against what boto3 sees through the S3 endpoint and what the website endpoint serves."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.api.conftest import api, assert_problem
from tests.api.test_bucket_settings import bucket, s3, stranger, url
from tests.live import LiveServer

__all__ = ["bucket", "s3", "stranger"]  # fixtures shared with test_bucket_settings

SITE = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}}
RULES = [
    {
        "Condition": {"KeyPrefixEquals": "blog/"},
        "Redirect": {"ReplaceKeyPrefixWith": "posts/", "HttpRedirectCode": "302"},
    }
]


def site_url(server: LiveServer, bucket: str) -> str:
    port = server.endpoint.rsplit(":", 1)[1]
    return f"http://{bucket}.s3-website.localhost:{port}/"


def test_the_website_in_aws_cli_shape_with_its_address(
    server: LiveServer, client: httpx.Client, bucket: str, s3: Any
) -> None:
    assert_problem(client.get(url(bucket, "website")), 404, "not-found")
    info = client.get("/v1/storage").json()
    port = server.endpoint.rsplit(":", 1)[1]
    assert info["website_endpoint"] == f"http://{{bucket}}.s3-website.localhost:{port}"
    answer = client.put(url(bucket, "website"), json={**SITE, "RoutingRules": RULES})
    assert answer.status_code == 200
    expected = {**SITE, "RoutingRules": RULES, "url": site_url(server, bucket)}
    assert answer.json() == expected
    assert client.get(url(bucket, "website")).json() == expected
    got = s3.get_bucket_website(Bucket=bucket)
    assert got["IndexDocument"] == SITE["IndexDocument"] and got["RoutingRules"] == RULES
    # What GET answers can be PUT back as it is (its url is ignored).
    assert client.put(url(bucket, "website"), json=expected).json() == expected
    # What an S3 tool puts reads back in the shape it was put.
    redirect = {"RedirectAllRequestsTo": {"HostName": "www.example.com", "Protocol": "https"}}
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=redirect)
    assert client.get(url(bucket, "website")).json() == {
        **redirect,
        "url": site_url(server, bucket),
    }
    # The website endpoint serves it at that address.
    sent = httpx.get(
        f"{server.endpoint}/page",
        headers={"Host": site_url(server, bucket).split("/")[2]},
        timeout=30,
    )
    assert sent.status_code == 301 and sent.headers["location"] == "https://www.example.com/page"
    assert client.delete(url(bucket, "website")).status_code == 204
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_website(Bucket=bucket)
    assert caught.value.response["Error"]["Code"] == "NoSuchWebsiteConfiguration"
    assert client.delete(url(bucket, "website")).status_code == 204  # as S3: no error


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"ErrorDocument": {"Key": "404.html"}}, "A value for IndexDocument Suffix must be"),
        ({"IndexDocument": {"Suffix": "a/b.html"}}, "The IndexDocument Suffix is not well formed"),
        (
            {**SITE, "RedirectAllRequestsTo": {"HostName": "example.com"}},
            "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
        ),
        (
            {
                **SITE,
                "RoutingRules": [
                    {"Redirect": {"ReplaceKeyWith": "a", "ReplaceKeyPrefixWith": "b"}}
                ],
            },
            "You can only define ReplaceKeyPrefix or ReplaceKey but not both.",
        ),
        (
            {**SITE, "RoutingRules": [{"Redirect": {"HttpRedirectCode": "200"}}]},
            "The provided HTTP redirect code (200) is not valid.",
        ),
    ],
)
def test_a_website_s3_refuses_is_refused_in_s3s_words(
    client: httpx.Client, bucket: str, body: dict[str, Any], says: str
) -> None:
    answer = client.put(url(bucket, "website"), json=body)
    assert says in str(assert_problem(answer, 400, "invalid")["detail"])
    assert_problem(client.get(url(bucket, "website")), 404, "not-found")


def test_shape_errors_name_the_field(client: httpx.Client, bucket: str) -> None:
    typo = {"IndexDocument": {"Suffixx": "index.html"}}
    refused = assert_problem(client.put(url(bucket, "website"), json=typo), 422, "validation")
    assert {error["field"] for error in refused["errors"]} == {
        "IndexDocument.Suffix",
        "IndexDocument.Suffixx",
    }


def test_only_the_owner_with_the_right_scope(
    server: LiveServer, client: httpx.Client, stranger: httpx.Client, bucket: str, user: str
) -> None:
    client.put(url(bucket, "website"), json=SITE).raise_for_status()
    for method, body in (("GET", None), ("PUT", SITE), ("DELETE", None)):
        assert_problem(
            stranger.request(method, url(bucket, "website"), json=body), 404, "not-found"
        )
    with api(server, server.api_key(user, "website reader", ("storage:read",))) as reader:
        assert reader.get(url(bucket, "website")).status_code == 200
        for method, body in (("PUT", SITE), ("DELETE", None)):
            refused = reader.request(method, url(bucket, "website"), json=body)
            assert assert_problem(refused, 403, "missing-scope")["scope"] == "storage:write"
    assert client.get(url(bucket, "website")).json()["IndexDocument"] == SITE["IndexDocument"]
    assert json.dumps(SITE)  # the document the owner set is unchanged
