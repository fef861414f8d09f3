"""A bucket's Settings tab in the console: versioning, bucket policy, CORS, lifecycle rules,
Block Public Access and tags, each checked against what S3 clients then see."""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError
from playwright.sync_api import Page, expect

from tests.console.conftest import XSS, Tab, make_account, owner_s3
from tests.console.guide_screenshots import readme_screenshot
from tests.console.test_storage import confirm_dialog
from tests.live import LiveServer

_n = itertools.count()


@pytest.fixture(scope="module")
def user(server: LiveServer) -> str:
    """The module's customer. Raised: buckets, for a fresh bucket per test (Free has 10)."""
    email = make_account(server)
    server.raise_limits(email, buckets=50)  # before the account's first request
    return email


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"settings-{next(_n)}-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    return name


def settings_of(tab: Tab, bucket: str) -> Page:
    return tab.open(f"/storage/buckets/{bucket}/settings")


def s3_error(call: Any, **params: Any) -> str:
    """The S3 error code ``call`` answers with."""
    with pytest.raises(ClientError) as refused:
        call(**params)
    return str(refused.value.response["Error"]["Code"])


def policy_for(bucket: str, principal: Any) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadReports",
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/reports/*",
                }
            ],
        },
        indent=2,
    )


def test_the_settings_tab_is_reached_from_the_object_browser(signed_in: Tab, bucket: str) -> None:
    page = signed_in.open(f"/storage/buckets/{bucket}")
    tabs = page.get_by_role("navigation", name="Bucket")
    expect(tabs.get_by_role("link", name="Objects")).to_have_attribute("aria-current", "page")
    tabs.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Versioning")).to_be_visible()
    expect(tabs.get_by_role("link", name="Settings")).to_have_attribute("aria-current", "page")
    for section in ("Bucket policy", "CORS", "Lifecycle rules", "Block Public Access", "Tags"):
        expect(page.get_by_role("region", name=section)).to_be_visible()
    readme_screenshot(page, "bucket-settings")


def test_versioning_is_enabled_then_suspended_after_a_confirmation(
    signed_in: Tab, s3: Any, bucket: str
) -> None:
    page = settings_of(signed_in, bucket)
    section = page.get_by_role("region", name="Versioning")
    expect(section).to_contain_text("Never enabled")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)

    section.get_by_role("button", name="Enable versioning").click()
    expect(page.get_by_role("status")).to_have_text(f"Versioning is enabled on {bucket}.")
    expect(section.locator(".badge")).to_have_text("Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    section.get_by_role("button", name="Suspend versioning").click()
    expect(page.get_by_role("dialog")).to_contain_text(f"Suspend versioning of {bucket}?")
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    section.get_by_role("button", name="Suspend versioning").click()
    confirm_dialog(page, "Suspend versioning")
    expect(page.get_by_role("status")).to_have_text(f"Versioning is suspended on {bucket}.")
    expect(section.locator(".badge")).to_have_text("Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    expect(section.get_by_role("button", name="Enable versioning")).to_be_visible()


def test_a_malformed_policy_shows_s3s_message_and_stores_nothing(
    signed_in: Tab, s3: Any, bucket: str
) -> None:
    page = settings_of(signed_in, bucket)
    editor = page.get_by_label("Policy (JSON)")
    for draft, message in (
        ("Allow everyone", "Policies must be valid JSON and the first byte must be '{'"),
        ('{"Statement": [}', "This policy contains invalid Json"),
        (policy_for("another-bucket", {"AWS": "*"}), "Policy has invalid resource"),
    ):
        editor.fill(draft)
        page.get_by_role("button", name="Save policy").click()
        expect(page.locator("#policy-error")).to_have_text(message)
        editor = page.get_by_label("Policy (JSON)")
        expect(editor).to_have_value(draft)  # kept as typed, to be corrected
        expect(editor).to_have_attribute("aria-invalid", "true")
        assert s3_error(s3.get_bucket_policy, Bucket=bucket) == "NoSuchBucketPolicy"
    expect(page.get_by_role("button", name="Delete policy")).to_have_count(0)


def test_a_policy_is_saved_then_deleted(signed_in: Tab, s3: Any, bucket: str) -> None:
    s3.delete_public_access_block(Bucket=bucket)  # the policy opens objects to anyone
    page = settings_of(signed_in, bucket)
    policy = policy_for(bucket, {"AWS": "*"})
    page.get_by_label("Policy (JSON)").fill("\n" + policy + "\n")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status")).to_have_text("Bucket policy saved.")
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(policy)
    expect(page.get_by_label("Policy (JSON)")).to_have_value(policy)

    page.get_by_role("button", name="Delete policy").click()
    expect(page.get_by_role("dialog")).to_contain_text("Delete the bucket policy")
    confirm_dialog(page, "Delete policy")
    expect(page.get_by_role("status")).to_have_text("Bucket policy deleted.")
    assert s3_error(s3.get_bucket_policy, Bucket=bucket) == "NoSuchBucketPolicy"
    expect(page.get_by_label("Policy (JSON)")).to_have_value("")


def test_block_public_access_switches_and_what_they_refuse(
    signed_in: Tab, s3: Any, bucket: str
) -> None:
    page = settings_of(signed_in, bucket)
    section = page.get_by_role("region", name="Block Public Access")
    # A new bucket blocks public access: all four switches on (AWS's default since 2023).
    for switch in (
        "Block public ACLs",
        "Ignore public ACLs",
        "Block public bucket policies",
        "Restrict public buckets",
    ):
        expect(section.get_by_label(switch)).to_be_checked()
    section.get_by_label("Block public ACLs").uncheck()
    section.get_by_label("Ignore public ACLs").uncheck()
    section.get_by_role("button", name="Save Block Public Access").click()
    expect(page.get_by_role("status")).to_have_text("Block Public Access settings saved.")
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": False,
        "IgnorePublicAcls": False,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    expect(section.get_by_label("Block public bucket policies")).to_be_checked()
    expect(section.get_by_label("Block public ACLs")).not_to_be_checked()

    # A public policy is now refused when saved, with the reason next to the editor.
    public = policy_for(bucket, "*")
    page.get_by_label("Policy (JSON)").fill(public)
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("#policy-error")).to_contain_text("Block Public Access")
    assert s3_error(s3.get_bucket_policy, Bucket=bucket) == "NoSuchBucketPolicy"

    section = page.get_by_role("region", name="Block Public Access")
    section.get_by_label("Block public ACLs").check()
    section.get_by_label("Block public bucket policies").uncheck()
    section.get_by_label("Restrict public buckets").uncheck()
    section.get_by_role("button", name="Save Block Public Access").click()
    expect(page.get_by_role("status")).to_have_text("Block Public Access settings saved.")
    switches = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert switches["BlockPublicAcls"] and not switches["BlockPublicPolicy"]


def test_cors_rules_are_saved_in_aws_clis_shape_checked_as_s3_checks_them_and_deleted(
    signed_in: Tab, s3: Any, bucket: str
) -> None:
    rule = {
        "ID": "web-app",
        "AllowedHeaders": ["*"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedOrigins": ["https://app.example.com"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600,
    }
    page = settings_of(signed_in, bucket)
    page.get_by_label("CORS rules (JSON)").fill(json.dumps({"CORSRules": [rule]}))
    page.get_by_role("button", name="Save CORS rules").click()
    expect(page.get_by_role("status")).to_have_text("CORS rules saved.")
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == [rule]
    section = page.get_by_role("region", name="CORS")
    expect(section.get_by_role("row").filter(has_text="https://app.example.com")).to_contain_text(
        "GET, PUT"
    )
    assert json.loads(page.get_by_label("CORS rules (JSON)").input_value()) == {"CORSRules": [rule]}

    for draft, message in (
        (
            {"CORSRules": [{**rule, "AllowedMethods": ["PATCH"]}]},
            "Found unsupported HTTP method in CORS config. Unsupported method is PATCH",
        ),
        (
            {"CORSRules": [{**rule, "AllowedOrigins": ["https://*.*.example.com"]}]},
            'AllowedOrigin "https://*.*.example.com" can not have more than one wildcard.',
        ),
        ({"CORSRules": [{"AllowedMethods": ["GET"]}]}, "needs AllowedOrigins and AllowedMethods"),
        ({"Rules": []}, '{"CORSRules": [ ... ]}'),
    ):
        page.get_by_label("CORS rules (JSON)").fill(json.dumps(draft))
        page.get_by_role("button", name="Save CORS rules").click()
        expect(page.locator("#cors-error")).to_contain_text(message)
        assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == [rule]

    page.get_by_role("button", name="Delete CORS rules").click()
    confirm_dialog(page, "Delete CORS rules")
    expect(page.get_by_role("status")).to_have_text("CORS rules deleted.")
    assert s3_error(s3.get_bucket_cors, Bucket=bucket) == "NoSuchCORSConfiguration"


def test_cors_rules_put_by_an_s3_tool_show_as_text(signed_in: Tab, s3: Any, bucket: str) -> None:
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": [XSS], "AllowedMethods": ["GET"]}]},
    )
    page = settings_of(signed_in, bucket)
    expect(page.get_by_role("region", name="CORS").get_by_role("cell", name=XSS)).to_be_visible()
    expect(page.locator("img[src='x']")).to_have_count(0)


def test_lifecycle_rules_are_added_listed_and_removed(signed_in: Tab, s3: Any, bucket: str) -> None:
    page = settings_of(signed_in, bucket)
    expect(page.get_by_role("region", name="Lifecycle rules")).to_contain_text("No lifecycle rules")
    page.get_by_label("Rule ID").fill("expire-logs")
    page.get_by_label("Filter prefix").fill("logs/")
    page.get_by_label("Expire after (days)").fill("30")
    page.get_by_label("Delete noncurrent after (days)").fill("7")
    page.get_by_label("Abort uploads after (days)").fill("3")
    page.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("status")).to_have_text("Lifecycle rule added.")
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == [
        {
            "ID": "expire-logs",
            "Filter": {"Prefix": "logs/"},
            "Status": "Enabled",
            "Expiration": {"Days": 30},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
        }
    ]
    row = page.get_by_role("row").filter(has_text="expire-logs")
    expect(row.get_by_role("cell")).to_have_text(["logs/", "30 days", "7 days", "3 days", "Remove"])

    # Refused drafts come back as typed, with S3's reason; nothing is stored.
    for days, message in (
        ("0", "'Days' for Expiration action must be a positive integer"),
        ("", "At least one action needs to be specified in a rule"),
        ("ten", "Expire after: write a whole number of days."),
    ):
        page.get_by_label("Rule ID").fill("tmp")
        page.get_by_label("Filter prefix").fill("tmp/")
        page.get_by_label("Expire after (days)").fill(days)
        page.get_by_role("button", name="Add rule").click()
        expect(page.locator("#lifecycle-error")).to_have_text(message)
        expect(page.get_by_label("Filter prefix")).to_have_value("tmp/")
        assert len(s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]) == 1
    page.get_by_label("Rule ID").fill("expire-logs")
    page.get_by_label("Expire after (days)").fill("1")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("#lifecycle-error")).to_contain_text("exists already")

    # Without an ID, S3's kind of generated one; without a prefix, every object.
    page.get_by_label("Rule ID").fill("")
    page.get_by_label("Filter prefix").fill("")
    page.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("status")).to_have_text("Lifecycle rule added.")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["Filter"] for r in rules] == [{"Prefix": "logs/"}, {}]
    made = rules[1]["ID"]
    assert made and rules[1]["Expiration"] == {"Days": 1}

    page.get_by_role("button", name="Remove the rule expire-logs").click()
    expect(page.get_by_role("dialog")).to_contain_text("Remove the lifecycle rule expire-logs?")
    confirm_dialog(page, "Remove")
    expect(page.get_by_role("status")).to_have_text("Lifecycle rule expire-logs removed.")
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == [
        made
    ]
    page.get_by_role("button", name=f"Remove the rule {made}").click()
    confirm_dialog(page, "Remove")
    expect(page.get_by_role("status")).to_have_text(f"Lifecycle rule {made} removed.")
    code = s3_error(s3.get_bucket_lifecycle_configuration, Bucket=bucket)
    assert code == "NoSuchLifecycleConfiguration"


def test_lifecycle_rules_put_by_an_s3_tool_are_listed(signed_in: Tab, s3: Any, bucket: str) -> None:
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "big-tmp",
                    "Status": "Disabled",
                    "Filter": {
                        "And": {
                            "Prefix": "tmp/",
                            "Tags": [{"Key": "kind", "Value": "scratch"}],
                            "ObjectSizeGreaterThan": 1024,
                        }
                    },
                    "Expiration": {"Days": 2},
                }
            ]
        },
    )
    page = settings_of(signed_in, bucket)
    row = page.get_by_role("row").filter(has_text="big-tmp")
    expect(row).to_contain_text("Disabled")
    expect(row).to_contain_text("tag kind=scratch, larger than 1,024 bytes")
    expect(row).to_contain_text("2 days")


def test_tags_are_added_replaced_refused_and_removed(signed_in: Tab, s3: Any, bucket: str) -> None:
    page = settings_of(signed_in, bucket)

    def add(key: str, value: str) -> None:
        page.get_by_label("Tag key").fill(key)
        page.get_by_label("Tag value").fill(value)
        page.get_by_role("button", name="Add tag").click()

    def tags() -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}

    add("env", "prod")
    expect(page.get_by_role("status")).to_have_text("Tag env saved.")
    add("team", "data platform")
    expect(page.get_by_role("status")).to_have_text("Tag team saved.")
    assert tags() == {"env": "prod", "team": "data platform"}
    add("env", "staging")
    assert tags() == {"env": "staging", "team": "data platform"}
    table = page.get_by_role("region", name="Tags").get_by_role("table")
    expect(table.get_by_role("row").filter(has_text="env")).to_contain_text("staging")

    add("aws:owner", "me")
    expect(page.locator("#tags-error")).to_have_text(
        "System tags cannot be added/updated by requester"
    )
    expect(page.get_by_label("Tag key")).to_have_value("aws:owner")
    add("bad<key>", "x")
    expect(page.locator("#tags-error")).to_have_text("The TagKey you have provided is invalid")
    assert tags() == {"env": "staging", "team": "data platform"}

    page.get_by_role("button", name="Remove the tag env").click()
    expect(page.get_by_role("status")).to_have_text("Tag env removed.")
    assert tags() == {"team": "data platform"}
    page.get_by_role("button", name="Remove the tag team").click()
    expect(page.get_by_role("status")).to_have_text("Tag team removed.")
    assert s3_error(s3.get_bucket_tagging, Bucket=bucket) == "NoSuchTagSet"


def test_settings_work_without_javascript(plain_tab: Tab, user: str, s3: Any, bucket: str) -> None:
    plain_tab.sign_in(user)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.delete_public_access_block(Bucket=bucket)  # the policy opens objects to anyone
    s3.put_bucket_policy(Bucket=bucket, Policy=policy_for(bucket, {"AWS": "*"}))
    page = settings_of(plain_tab, bucket)
    page.get_by_role("button", name="Suspend versioning").click()
    expect(page.get_by_role("heading", name=f"Suspend versioning of {bucket}?")).to_be_visible()
    page.get_by_role("button", name="Suspend versioning").click()
    expect(page.get_by_role("status")).to_have_text(f"Versioning is suspended on {bucket}.")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"

    page.get_by_role("button", name="Delete policy").click()
    expect(
        page.get_by_role("heading", name=f"Delete the bucket policy of {bucket}?")
    ).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"]
    page.get_by_role("button", name="Delete policy").click()
    page.get_by_role("button", name="Delete policy").click()
    expect(page.get_by_role("status")).to_have_text("Bucket policy deleted.")
    assert s3_error(s3.get_bucket_policy, Bucket=bucket) == "NoSuchBucketPolicy"

    page.get_by_label("Tag key").fill("env")
    page.get_by_label("Tag value").fill("prod")
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("status")).to_have_text("Tag env saved.")
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "env", "Value": "prod"}]


def test_another_accounts_bucket_has_no_settings_page(
    signed_in: Tab, server: LiveServer, s3: Any, bucket: str
) -> None:
    other = owner_s3(server, make_account(server))
    name = f"not-yours-{os.getpid()}"
    other.create_bucket(Bucket=name)
    page = settings_of(signed_in, name)
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    token = settings_of(signed_in, bucket).locator('input[name="csrf_token"]').first.input_value()
    for path, form in (
        ("/versioning", {"state": "Enabled"}),
        ("/policy", {"policy": policy_for(name, "*")}),
        ("/tags", {"key": "owner", "value": "mallory"}),
    ):
        answer = signed_in.context.request.post(
            f"/storage/buckets/{name}/settings{path}", form={**form, "csrf_token": token}
        )
        assert answer.status == 404, path
    assert "Status" not in other.get_bucket_versioning(Bucket=name)
    assert s3_error(other.get_bucket_policy, Bucket=name) == "NoSuchBucketPolicy"
    assert s3_error(other.get_bucket_tagging, Bucket=name) == "NoSuchTagSet"
