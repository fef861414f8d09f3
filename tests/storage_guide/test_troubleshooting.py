"""What the troubleshooting tables of the Object Storage guide (src/nexq/storage/guide/*.md)
quote, made to happen for real in the reader's shell (tests/storage_guide/reader.py) against a
live Nexq: each refusal is what dcp, aws-cli, boto3, rclone or curl print.

The reader starts where the guide leaves them (their access key in AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, the buckets team-assets and team-backups), and has at hand what the
tables speak of: a key for team-backups only, a revoked and a deleted key, an API key without
storage scopes, another account that holds a name the reader wants and has little storage
left, and an account on the Free tier's limits with every bucket and access key it may have
and a request rate of one a second."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from nexq.core.errors import RateLimited
from nexq.storage.quotas import (
    access_key_quota_message,
    bucket_quota_message,
    storage_quota_message,
)
from tests.live import BURST, LiveServer
from tests.storage_guide.reader import GUIDE, Reader

BUCKETS, OBJECTS, KEYS = "buckets.md", "objects.md", "access-keys.md"
S3_API, USAGE = "s3-api.md", "usage-billing.md"
# The example values a quote gives that differ from one reader to another.
EXAMPLES = (("https://s3.nexq.example.com/", '[^"]+'),)
FREE_BUCKETS = 10  # the Free tier's limits, as shipped
FREE_KEYS = 10
SMALL_STORAGE = 1000  # bytes left to the other account: a 2 kB upload does not fit
LINK_EXPIRES_WITHIN = 10.0
# A boto3 client that does not retry, so that the refusal itself is what it reports.
NO_RETRY = 'boto3.client("s3", config=Config(retries={"max_attempts": 1}))'


def signed_by(who: str, command: str) -> str:
    """``command`` run with the access key kept in ``{who}_KEY_ID`` and ``{who}_SECRET``."""
    return f'AWS_ACCESS_KEY_ID="${who}_KEY_ID" AWS_SECRET_ACCESS_KEY="${who}_SECRET" {command}'


def python(script: str) -> str:
    return f"python3 - <<'EOF'\nimport boto3\nfrom botocore.config import Config\n{script}\nEOF"


# What the tables quote, the pages that quote it, and a command that makes a tool say it.
# "…" in a quote stands for what the tool adds around the server's words.
TROUBLE: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        (BUCKETS,),
        "The requested bucket name is not available.",
        'DCP_API_KEY="$OTHER_API_KEY" dcp storage buckets create team-assets',
    ),
    ((BUCKETS,), "BucketAlreadyExists", signed_by("OTHER", "aws s3 mb s3://team-assets")),
    ((BUCKETS,), "You already own this bucket.", "dcp storage buckets create team-assets"),
    ((BUCKETS,), "BucketAlreadyOwnedByYou", "aws s3 mb s3://team-assets"),
    (
        (BUCKETS,),
        "Bucket names are 3-63 characters of lowercase letters, digits, '-' and '.', starting "
        "and ending with a letter or digit.",
        "dcp storage buckets create Team_Assets",
    ),
    ((BUCKETS,), "InvalidBucketName", "aws s3 mb s3://Team_Assets"),
    (
        (BUCKETS,),
        "Bucket names must not be formatted as an IP address.",
        "dcp storage buckets create 192.168.1.1",
    ),
    (
        (BUCKETS,),
        "Bucket names must not use a reserved prefix or suffix.",
        "dcp storage buckets create xn--assets",
    ),
    (
        (BUCKETS,),
        "No bucket named 'team-asset' in this account.",
        "dcp storage buckets show team-asset",
    ),
    (
        (BUCKETS,),
        "NoSuchBucket … The specified bucket does not exist",
        "aws s3 ls s3://team-asset",
    ),
    (
        (BUCKETS,),
        "The bucket you tried to delete is not empty",
        "dcp storage buckets delete team-assets",
    ),
    ((BUCKETS,), "BucketNotEmpty", "aws s3 rb s3://team-assets"),
    (
        (BUCKETS, USAGE),
        bucket_quota_message(FREE_BUCKETS),
        'DCP_API_KEY="$FREE_API_KEY" dcp storage buckets create free-one-more',
    ),
    (
        (BUCKETS, KEYS),
        "This access key is limited to specific buckets.",
        signed_by("SCOPED", "aws s3 mb s3://team-new"),
    ),
    (
        (BUCKETS,),
        "This action needs the scope 'storage:write', which the API key lacks.",
        'DCP_API_KEY="$REGISTRY_ONLY_KEY" dcp storage buckets create team-read',
    ),
    (
        (OBJECTS,),
        "NoSuchKey … The specified key does not exist.",
        "aws s3api get-object --bucket team-assets --key site/index.htm index.htm",
    ),
    (
        (OBJECTS,),
        'An error occurred (404) when calling the HeadObject operation: Key "site/index.htm" '
        "does not exist",
        "aws s3 cp s3://team-assets/site/index.htm .",
    ),
    (
        (OBJECTS,),
        "No object 'uploads/report.txt' in the bucket 'team-assets'.",
        "dcp storage objects delete team-assets uploads/report.txt",
    ),
    (
        (OBJECTS,),
        "KeyTooLongError … Your key is too long: object keys are at most 1024 bytes.",
        'aws s3api put-object --bucket team-assets --key "$(python3 -c \'print("k" * 1025)\')" '
        "--body site/index.html",
    ),
    (
        (OBJECTS, USAGE),
        "QuotaExceeded … " + storage_quota_message(SMALL_STORAGE).replace(str(SMALL_STORAGE), "…"),
        signed_by(
            "OTHER",
            "aws s3api put-object --bucket other-small --key two-kb.bin --body two-kb.bin",
        ),
    ),
    (
        (OBJECTS,),
        "EntityTooLarge … Your proposed upload exceeds the maximum allowed size.",
        'curl --fail-with-body -sS -X PUT -H "Content-Length: 5368709121" '
        '"$(dcp storage objects presign team-assets huge.bin --method PUT)"',
    ),
    (
        (KEYS,),
        "AccessDenied … Access Denied",
        signed_by("SCOPED", "aws s3 ls s3://team-assets"),
    ),
    (
        (KEYS,),
        "AccessDenied … The access key has been revoked.",
        signed_by("REVOKED", "aws s3 ls s3://team-assets"),
    ),
    (
        (KEYS,),
        "InvalidAccessKeyId … The AWS Access Key Id you provided does not exist in our records.",
        signed_by("DELETED", "aws s3 ls s3://team-assets"),
    ),
    (
        (KEYS,),
        "SignatureDoesNotMatch … The request signature we calculated does not match the "
        "signature you provided. Check your key and signing method.",
        'AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY}x" aws s3 ls',
    ),
    (
        (S3_API,),
        "SignatureDoesNotMatch … Check your key and signing method.",
        'AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY%?}" rclone lsd nexq: --retries 1',
    ),
    (
        (KEYS,),
        'Unable to locate credentials. You can configure credentials by running "aws configure".',
        "env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED=true "
        "aws s3 ls",
    ),
    (
        (KEYS,),
        "The bucket 'team-backup' does not exist in this account.",
        "dcp storage keys create --label typo --bucket team-backup",
    ),
    (
        (KEYS,),
        "No access key NQAKnope00000000000a in this account.",
        "dcp storage keys revoke NQAKnope00000000000a",
    ),
    (
        (KEYS, USAGE),
        access_key_quota_message(FREE_KEYS),
        'DCP_API_KEY="$FREE_API_KEY" dcp storage keys create --label one-more',
    ),
    (
        (S3_API,),
        'Could not connect to the endpoint URL: "https://s3.nexq.example.com/"',
        "AWS_ENDPOINT_URL=http://127.0.0.1:1 aws s3 ls",
    ),
    (
        (S3_API,),
        "AuthorizationHeaderMalformed … the region 'eu-west-3' is wrong; expecting 'nexq-1'",
        "AWS_DEFAULT_REGION=eu-west-3 aws s3 ls",
    ),
    (
        (S3_API,),
        "RequestTimeTooSkewed … The difference between the request time and the current time "
        "is too large.",
        python(
            # A clock an hour behind: both of botocore's signers read the time this way.
            "import datetime, botocore.auth, botocore.crt.auth\n"
            "for signer in (botocore.auth, botocore.crt.auth):\n"
            "    now = signer.get_current_datetime\n"
            "    signer.get_current_datetime = (\n"
            "        lambda *a, now=now, **k: now(*a, **k) - datetime.timedelta(hours=1))\n"
            f"{NO_RETRY}.list_buckets()"
        ),
    ),
    (
        (S3_API,),
        "NotImplemented … The logging sub-resource is not implemented by this server.",
        "aws s3api get-bucket-logging --bucket team-assets",
    ),
    (
        (S3_API, USAGE),
        "SlowDown … " + RateLimited("s3_write_rps", 1).message,
        signed_by(
            "FREE",
            python(
                f"s3 = {NO_RETRY}\n"
                "for n in range(5):\n"
                '    s3.put_object(Bucket="free-0", Key=f"note-{n}.txt", Body=b"n")'
            ),
        ),
    ),
    (
        (USAGE,),
        "SlowDown … " + RateLimited("s3_read_rps", 1).message,
        signed_by(
            "FREE",
            python(f's3 = {NO_RETRY}\nfor _ in range(5):\n    s3.list_objects_v2(Bucket="free-0")'),
        ),
    ),
    (
        (USAGE,),
        "month: use the form YYYY-MM, e.g. 2026-11.",
        "dcp storage usage --month 2026-1",
    ),
    (
        (USAGE,),
        "This action needs the scope 'storage:read or billing:read', which the API key lacks.",
        'DCP_API_KEY="$REGISTRY_ONLY_KEY" dcp storage usage',
    ),
)


def plain(page: str) -> str:
    """A page as a reader reads its quotes: without code marks, one space between words."""
    return " ".join((GUIDE / page).read_text().replace("`", "").split())


def said(quote: str) -> re.Pattern[str]:
    """What a tool says for ``quote``: "…" and the example values stand for anything."""
    pattern = ".+?".join(re.escape(part.strip()) for part in quote.split("…"))
    for example, anything in EXAMPLES:
        pattern = pattern.replace(re.escape(example), anything)
    return re.compile(pattern)


def provoke(reader: Reader, pages: tuple[str, ...], quote: str, command: str) -> None:
    """``command`` fails, saying what ``pages`` quote."""
    for page in pages:
        assert quote in plain(page), f"{page} does not quote {quote!r}"
    proc = reader.sh(command)
    assert proc.returncode != 0, f"{command} succeeded:\n{proc.stdout}{proc.stderr}"
    assert said(quote).search(proc.stdout + proc.stderr), (
        f"{command} did not say {quote!r}:\n{proc.stdout}{proc.stderr}"
    )


def made(answer: httpx.Response) -> Any:
    assert answer.status_code == 201, answer.text
    return answer.json()


def keep(reader: Reader, who: str, key: dict[str, str]) -> None:
    reader.env[f"{who}_KEY_ID"] = key["access_key_id"]
    reader.env[f"{who}_SECRET"] = key["secret_access_key"]


@pytest.fixture(scope="module")
def reader(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Reader:
    reader = Reader(server, tmp_path_factory.mktemp("reader"))
    other = server.account("storage-guide-other@example.com")
    server.raise_limits(other, storage_bytes=SMALL_STORAGE, api_rps=BURST)
    free = server.account("storage-guide-free@example.com")
    server.raise_limits(free, s3_read_rps=1, s3_write_rps=1, api_rps=BURST)
    reader.env["OTHER_API_KEY"] = server.api_key(other)
    reader.env["FREE_API_KEY"] = server.api_key(free)
    with reader.api() as api:
        registry_only = {"name": "registry only", "scopes": ["registry:read"]}
        reader.env["REGISTRY_ONLY_KEY"] = made(api.post("/api-keys", json=registry_only))["token"]
        info = api.get("/storage").json()
        reader.env.update(AWS_ENDPOINT_URL=info["s3_endpoint"], AWS_DEFAULT_REGION=info["region"])
        for name in ("team-assets", "team-backups"):
            made(api.post("/storage/buckets", json={"name": name}))
        own = made(api.post("/storage/access-keys", json={"label": "laptop"}))
        reader.env["AWS_ACCESS_KEY_ID"] = own["access_key_id"]
        reader.env["AWS_SECRET_ACCESS_KEY"] = own["secret_access_key"]
        scoped = {"label": "backup-job", "buckets": ["team-backups"]}
        keep(reader, "SCOPED", made(api.post("/storage/access-keys", json=scoped)))
        for gone, how in (("REVOKED", "revoke"), ("DELETED", "delete")):
            key = made(api.post("/storage/access-keys", json={"label": gone.lower()}))
            keep(reader, gone, key)
            path = f"/storage/access-keys/{key['access_key_id']}"
            answer = api.post(f"{path}/revoke") if how == "revoke" else api.delete(path)
            assert answer.status_code in (200, 204), answer.text
    with reader.api(reader.env["OTHER_API_KEY"]) as api:
        made(api.post("/storage/buckets", json={"name": "other-small"}))
        keep(reader, "OTHER", made(api.post("/storage/access-keys", json={"label": "other"})))
    with reader.api(reader.env["FREE_API_KEY"]) as api:
        for n in range(FREE_BUCKETS):
            made(api.post("/storage/buckets", json={"name": f"free-{n}"}))
        keys = [
            made(api.post("/storage/access-keys", json={"label": f"free-{n}"}))
            for n in range(FREE_KEYS)
        ]
        keep(reader, "FREE", keys[0])
    reader.setup(
        'rclone config create nexq s3 provider=Other env_auth=true endpoint="$AWS_ENDPOINT_URL" '
        'region="$AWS_DEFAULT_REGION"\n'
        "mkdir -p site && printf '<h1>Hello</h1>\\n' > site/index.html\n"
        "aws s3 cp site/index.html s3://team-assets/site/index.html\n"
        "head -c 2000 /dev/zero > two-kb.bin"
    )
    return reader


def test_the_troubleshooting_quotes_what_tools_say(reader: Reader) -> None:
    for pages, quote, command in TROUBLE:
        provoke(reader, pages, quote, command)


def until_expired(reader: Reader, url: str) -> str:
    """What a link answers once its time is over (it works for its one second first)."""
    deadline = time.monotonic() + LINK_EXPIRES_WITHIN
    while True:
        proc = reader.sh(f'curl --fail-with-body -sS "{url}"')
        if proc.returncode != 0 or time.monotonic() > deadline:
            return proc.stdout + proc.stderr
        time.sleep(0.2)


def test_a_share_link_that_expired_or_was_revoked_says_so(reader: Reader) -> None:
    """The share links' rows of objects.md: an expired link and one made before every link
    was revoked answer what the page quotes."""
    presign = "dcp storage objects presign team-assets site/index.html"
    expiring = reader.setup(f"{presign} --expires-in 1").strip()
    expired = "<Code>AccessDenied</Code><Message>Request has expired</Message>"
    assert expired in plain(OBJECTS)
    assert expired in until_expired(reader, expiring)
    revoked = reader.setup(presign).strip()
    assert reader.sh(f'curl --fail-with-body -sS "{revoked}"').returncode == 0
    reader.setup("dcp storage objects revoke-links")
    refused = reader.sh(f'curl --fail-with-body -sS "{revoked}"')
    assert refused.returncode != 0
    assert "<Code>InvalidAccessKeyId</Code>" in plain(OBJECTS)
    assert "<Code>InvalidAccessKeyId</Code>" in refused.stdout
    fresh = reader.setup(presign).strip()
    assert reader.setup(f'curl --fail-with-body -sS "{fresh}"') == "<h1>Hello</h1>\n"
