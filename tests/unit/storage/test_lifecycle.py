"""Lifecycle: the LifecycleConfiguration document, S3's checks, and what falls due when."""

from __future__ import annotations

import base64
import calendar
import uuid

import pytest

from nexq.storage.lifecycle import (
    Action,
    Candidate,
    Due,
    Expiration,
    Filter,
    FilterForm,
    NoncurrentVersionExpiration,
    Rule,
    abort_date,
    abort_due,
    due,
    eligible_at,
    expiry,
)
from nexq.storage.lifecycle_json import rules_from_json, rules_to_json
from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.lifecycle_xml import (
    abort_headers,
    expiration_header,
    new_rule_id,
    parse_date,
    parse_lifecycle,
    render_lifecycle,
)

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: float = 0
) -> float:
    return calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0)) + second


def config(*rules: str) -> bytes:
    return f"<LifecycleConfiguration {NS}>{''.join(rules)}</LifecycleConfiguration>".encode()


def xml_rule(
    body: str = "<Expiration><Days>1</Days></Expiration>",
    filter_: str = "<Filter/>",
    rule_id: str | None = "r",
    status: str = "Enabled",
) -> str:
    ident = f"<ID>{rule_id}</ID>" if rule_id is not None else ""
    return f"<Rule>{ident}{filter_}<Status>{status}</Status>{body}</Rule>"


def parsed(*rules: str) -> list[Rule]:
    return parse_lifecycle(config(*rules))


def refused(body: bytes) -> S3Error:
    with pytest.raises(S3Error) as caught:
        parse_lifecycle(body)
    return caught.value


# --- the document --------------------------------------------------------------------------


def test_every_filter_form_and_action_is_read() -> None:
    rules = parsed(
        xml_rule(
            "<Expiration><Days>365</Days></Expiration>",
            "<Filter><Prefix>logs/</Prefix></Filter>",
            "a",
        ),
        xml_rule(
            "<Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration>",
            "<Filter><Tag><Key>class</Key><Value>tmp</Value></Tag></Filter>",
            "b",
            "Disabled",
        ),
        xml_rule(
            "<NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays>"
            "<NewerNoncurrentVersions>5</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
            "<Filter><And><Prefix>a/</Prefix><Tag><Key>k1</Key><Value>v1</Value></Tag>"
            "<Tag><Key>k2</Key><Value>v2</Value></Tag><ObjectSizeGreaterThan>100"
            "</ObjectSizeGreaterThan><ObjectSizeLessThan>1000</ObjectSizeLessThan></And></Filter>",
            "c",
        ),
        xml_rule(
            "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation>"
            "</AbortIncompleteMultipartUpload>",
            "<Filter></Filter>",
            "d",
        ),
        xml_rule(
            "<Expiration><Days>2</Days></Expiration>",
            "<Filter><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan></Filter>",
            "e",
        ),
        xml_rule(
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
            "</NoncurrentVersionExpiration>",
            "<Filter><ObjectSizeLessThan>1</ObjectSizeLessThan></Filter>",
            "f",
        ),
    )
    assert rules == [
        Rule("a", True, Filter(FilterForm.PREFIX, prefix="logs/"), Expiration(days=365)),
        Rule(
            "b",
            False,
            Filter(FilterForm.TAG, tags=(("class", "tmp"),)),
            Expiration(date=utc(2030, 1, 1)),
        ),
        Rule(
            "c",
            True,
            Filter(
                FilterForm.AND,
                prefix="a/",
                tags=(("k1", "v1"), ("k2", "v2")),
                greater_than=100,
                less_than=1000,
            ),
            noncurrent_expiration=NoncurrentVersionExpiration(30, 5),
        ),
        Rule(
            "d",
            True,
            Filter(FilterForm.EMPTY),
            Expiration(expired_object_delete_marker=True),
            abort_after_days=7,
        ),
        Rule("e", True, Filter(FilterForm.GREATER, greater_than=0), Expiration(days=2)),
        Rule(
            "f",
            True,
            Filter(FilterForm.LESS, less_than=1),
            noncurrent_expiration=NoncurrentVersionExpiration(1),
        ),
    ]


def test_a_legacy_configuration_of_rule_level_prefixes_is_read() -> None:
    body = config(
        "<Rule><ID>x</ID><Prefix>projectdocs/</Prefix><Status>Enabled</Status>"
        "<Expiration><Days>3650</Days></Expiration></Rule>",
        "<Rule><ID>y</ID><Prefix>other/</Prefix><Status>Enabled</Status>"
        "<Expiration><Days>1</Days></Expiration></Rule>",
    )
    rules = parse_lifecycle(body)
    assert rules[0].filter == Filter(FilterForm.LEGACY, prefix="projectdocs/")
    assert "<Rule><ID>x</ID><Prefix>projectdocs/</Prefix><Status>Enabled</Status>" in (
        render_lifecycle(rules)
    )


def test_a_rule_without_id_gets_one_as_s3_makes_them() -> None:
    rules = parse_lifecycle(config(xml_rule(rule_id=None), xml_rule(rule_id="")))
    for rule in rules:
        assert len(rule.id) == 48
        assert uuid.UUID(base64.b64decode(rule.id).decode()).version == 4
    assert rules[0].id != rules[1].id
    assert len(new_rule_id()) == 48


def test_the_document_may_come_without_namespace_and_in_any_element_order() -> None:
    body = (
        b"<LifecycleConfiguration><Rule><Status>Enabled</Status>"
        b"<Expiration><Days>5</Days></Expiration><Filter><Prefix>p</Prefix></Filter>"
        b"<ID>r</ID></Rule></LifecycleConfiguration>"
    )
    assert parse_lifecycle(body) == [
        Rule("r", True, Filter(FilterForm.PREFIX, prefix="p"), Expiration(days=5))
    ]


def test_a_tag_without_value_matches_the_empty_value() -> None:
    rules = parsed(xml_rule(filter_="<Filter><Tag><Key>k</Key></Tag></Filter>"))
    assert rules[0].filter.tags == (("k", ""),)


def test_rendering_writes_id_filter_status_then_actions() -> None:
    rules = [
        Rule(
            "keep <&>",
            True,
            Filter(FilterForm.EMPTY),
            Expiration(days=30),
            NoncurrentVersionExpiration(7, 3),
            abort_after_days=2,
        )
    ]
    assert render_lifecycle(rules) == (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<LifecycleConfiguration {NS}>'
        "<Rule><ID>keep &lt;&amp;&gt;</ID><Filter/><Status>Enabled</Status>"
        "<Expiration><Days>30</Days></Expiration>"
        "<NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays>"
        "<NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>"
        "</AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>"
    )


def test_documents_round_trip() -> None:
    body = config(
        xml_rule(
            "<Expiration><Days>365</Days></Expiration>", "<Filter><Prefix></Prefix></Filter>", "a"
        ),
        xml_rule(
            "<Expiration><Date>2012-12-23T00:00:00Z</Date></Expiration>",
            "<Filter><And><Prefix></Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>",
            "b",
        ),
        xml_rule(
            "<Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker></Expiration>",
            "<Filter><Prefix>tmp/</Prefix></Filter>",
            "c",
            "Disabled",
        ),
        xml_rule(
            "<Expiration><Days>1</Days></Expiration>",
            "<Filter><And><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2"
            "</Value></Tag></And></Filter>",
            "d",
        ),
    )
    rules = parse_lifecycle(body)
    text = render_lifecycle(rules)
    assert "<Date>2012-12-23T00:00:00.000Z</Date>" in text
    assert "<Filter><Prefix></Prefix></Filter>" in text
    assert "<ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker>" in text
    assert parse_lifecycle(text.encode()) == rules


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2012-12-23T00:00:00Z", utc(2012, 12, 23)),
        ("2012-12-23T00:00:00.000Z", utc(2012, 12, 23)),
        ("2012-12-23T00:00:00", utc(2012, 12, 23)),
        ("2012-12-23T01:00:00+01:00", utc(2012, 12, 23)),
        ("2012-12-23T10:30:00.5Z", utc(2012, 12, 23, 10, 30, 0.5)),
        ("2012-12-23T00:00:00.0000001Z", utc(2012, 12, 23) + 1e-7),
    ],
)
def test_dates_are_iso_8601(text: str, epoch: float) -> None:
    assert parse_date(text) == pytest.approx(epoch, abs=1e-9)


MALFORMED = [
    (b"<LifecycleConfiguration>", "unfinished"),
    (b"<LifeCycleConfiguration/>", "wrong-root"),
    (config("<Other/>"), "unknown-element"),
    (config(xml_rule(status="enabled")), "status-lowercase"),
    (config(xml_rule(status="invalid")), "status-unknown"),
    (
        config("<Rule><ID>r</ID><Filter/><Expiration><Days>1</Days></Expiration></Rule>"),
        "no-status",
    ),
    (
        config(
            "<Rule><ID>r</ID><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
        ),
        "no-filter-nor-prefix",
    ),
    (config(xml_rule(filter_="<Prefix>a</Prefix><Filter/>")), "prefix-and-filter"),
    (config(xml_rule(filter_="<Filter/><Filter/>")), "two-filters"),
    (
        config(
            xml_rule(
                filter_="<Filter><Prefix>a</Prefix><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan></Filter>"
            )
        ),
        "two-predicates",
    ),
    (
        config(
            xml_rule(
                filter_="<Filter><Prefix>a</Prefix><And><Prefix>b</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>"
            )
        ),
        "and-beside-prefix",
    ),
    (config(xml_rule(filter_="<Filter><And><Prefix>a</Prefix></And></Filter>")), "and-of-one"),
    (config(xml_rule(filter_="<Filter><And/></Filter>")), "and-of-none"),
    (
        config(
            xml_rule(filter_="<Filter><And><Prefix>a</Prefix><Prefix>b</Prefix></And></Filter>")
        ),
        "and-two-prefixes",
    ),
    (
        config(xml_rule(filter_="<Filter><Tag><Key></Key><Value>v</Value></Tag></Filter>")),
        "tag-empty-key",
    ),
    (config(xml_rule(filter_="<Filter><Tag><Value>v</Value></Tag></Filter>")), "tag-no-key"),
    (
        config(xml_rule(filter_="<Filter><ObjectSizeLessThan>big</ObjectSizeLessThan></Filter>")),
        "size-not-a-number",
    ),
    (config(xml_rule(filter_="<Filter><Color>red</Color></Filter>")), "unknown-predicate"),
    (config(xml_rule("<Expiration></Expiration>")), "empty-expiration"),
    (
        config(
            xml_rule("<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>")
        ),
        "days-and-date",
    ),
    (
        config(
            xml_rule(
                "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
            )
        ),
        "days-and-marker",
    ),
    (
        config(
            xml_rule(
                "<Expiration><Date>2030-01-01T00:00:00Z</Date><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
            )
        ),
        "date-and-marker",
    ),
    (
        config(
            xml_rule(
                "<Expiration><ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker></Expiration>"
            )
        ),
        "marker-not-boolean",
    ),
    (config(xml_rule("<Expiration><Days>one</Days></Expiration>")), "days-not-a-number"),
    (config(xml_rule("<Expiration><Days>2147483648</Days></Expiration>")), "days-past-int"),
    (
        config(xml_rule("<Expiration><Date>Fri, 01 Jan 2016 00:00:00 GMT</Date></Expiration>")),
        "date-http-form",
    ),
    (config(xml_rule("<Expiration><Date>2016-01-01</Date></Expiration>")), "date-without-time"),
    (
        config(xml_rule("<Expiration><Date>2016-02-30T00:00:00Z</Date></Expiration>")),
        "date-impossible",
    ),
    (
        config(xml_rule("<NoncurrentVersionExpiration></NoncurrentVersionExpiration>")),
        "empty-noncurrent",
    ),
    (
        config(
            xml_rule(
                "<NoncurrentVersionExpiration><NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
            )
        ),
        "noncurrent-without-days",
    ),
    (
        config(xml_rule("<AbortIncompleteMultipartUpload></AbortIncompleteMultipartUpload>")),
        "empty-abort",
    ),
    (
        config(
            xml_rule(
                "<Transition><Days>30</Days><StorageClass>STANDARD</StorageClass></Transition>"
            )
        ),
        "transition-to-standard",
    ),
    (
        config(
            xml_rule("<Transition><Days>30</Days><StorageClass>COLD</StorageClass></Transition>")
        ),
        "transition-unknown-class",
    ),
    (config(xml_rule("<Transition><Days>30</Days></Transition>")), "transition-without-class"),
]


@pytest.mark.parametrize("body", [body for body, _ in MALFORMED], ids=[i for _, i in MALFORMED])
def test_documents_outside_the_schema_are_malformed(body: bytes) -> None:
    error = refused(body)
    assert (error.code, error.status) == ("MalformedXML", 400)


def invalid(code: str, message: str, *rules: str) -> None:
    error = refused(config(*rules))
    assert (error.code, error.status, error.message) == (code, 400, message)


def test_the_number_of_rules() -> None:
    invalid("InvalidRequest", "At least one lifecycle rule must be specified.")
    assert len(parsed(*[xml_rule(rule_id=f"r{i}") for i in range(1000)])) == 1000
    invalid(
        "InvalidRequest",
        "The number of lifecycle rules must not exceed the allowed limit of 1000 rules.",
        *[xml_rule(rule_id=f"r{i}") for i in range(1001)],
    )


def test_rule_ids_are_unique_and_at_most_255_characters() -> None:
    assert parsed(xml_rule(rule_id="i" * 255))[0].id == "i" * 255
    error = refused(config(xml_rule(rule_id="i" * 256)))
    assert (error.code, error.message) == (
        "InvalidArgument",
        "ID length should not exceed allowed limit of 255",
    )
    assert error.extra == {"ArgumentName": "ID", "ArgumentValue": "i" * 256}
    invalid(
        "InvalidArgument",
        "Rule ID must be unique. Found same ID for more than one rule",
        xml_rule(rule_id="same"),
        xml_rule(rule_id="same"),
    )


def test_a_rule_needs_an_action() -> None:
    invalid("InvalidRequest", "At least one action needs to be specified in a rule", xml_rule(""))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "<Expiration><Days>0</Days></Expiration>",
            "'Days' for Expiration action must be a positive integer",
        ),
        (
            "<Expiration><Days>-3</Days></Expiration>",
            "'Days' for Expiration action must be a positive integer",
        ),
        (
            "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>",
            "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
        ),
        (
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
            "<NewerNoncurrentVersions>0</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
            "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive "
            "integer",
        ),
        (
            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation>"
            "</AbortIncompleteMultipartUpload>",
            "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive "
            "integer",
        ),
    ],
)
def test_day_counts_must_be_positive(body: str, message: str) -> None:
    invalid("InvalidArgument", message, xml_rule(body))


def test_an_expiration_date_must_be_a_midnight_utc() -> None:
    error = refused(config(xml_rule("<Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>")))
    assert (error.code, error.message) == ("InvalidArgument", "'Date' must be at midnight GMT")
    assert error.extra == {"ArgumentName": "Date", "ArgumentValue": "2030-01-01T10:00:00.000Z"}
    assert (
        refused(
            config(xml_rule("<Expiration><Date>2030-01-01T00:00:00.001Z</Date></Expiration>"))
        ).code
        == "InvalidArgument"
    )
    rules = parsed(xml_rule("<Expiration><Date>2030-01-01T02:00:00+02:00</Date></Expiration>"))
    assert rules[0].expiration == Expiration(date=utc(2030, 1, 1))


def test_many_newer_noncurrent_versions_are_accepted() -> None:
    # S3 documents up to 100, and accepts more.
    rules = parsed(
        xml_rule(
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
            "<NewerNoncurrentVersions>500</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
        )
    )
    assert rules[0].noncurrent_expiration == NoncurrentVersionExpiration(1, 500)


TAG_FILTER = "<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>"
SIZE_FILTER = "<Filter><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></Filter>"
ABORT = (
    "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
    "</AbortIncompleteMultipartUpload>"
)
MARKER = "<Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker></Expiration>"


def test_uploads_and_delete_markers_cannot_be_filtered_by_tags_or_sizes() -> None:
    invalid(
        "InvalidRequest",
        "AbortIncompleteMultipartUpload cannot be specified with Tags.",
        xml_rule(ABORT, TAG_FILTER),
    )
    invalid(
        "InvalidRequest",
        "AbortIncompleteMultipartUpload cannot be specified with Object Size.",
        xml_rule(ABORT, SIZE_FILTER),
    )
    invalid(
        "InvalidRequest",
        "ExpiredObjectDeleteMarker cannot be specified with Tags.",
        xml_rule(MARKER, TAG_FILTER),
    )
    invalid(
        "InvalidRequest",
        "ExpiredObjectDeleteMarker cannot be specified with Object Size.",
        xml_rule(MARKER, SIZE_FILTER),
    )
    # A Days expiration may use either.
    assert (
        len(parsed(xml_rule(filter_=TAG_FILTER), xml_rule(filter_=SIZE_FILTER, rule_id="s"))) == 2
    )


def test_size_filters_are_checked() -> None:
    def sizes(inner: str) -> str:
        return xml_rule(filter_=f"<Filter>{inner}</Filter>")

    invalid(
        "InvalidRequest",
        "'ObjectSizeLessThan' should be between 1 and 1099511627776000.",
        sizes("<ObjectSizeLessThan>0</ObjectSizeLessThan>"),
    )
    invalid(
        "InvalidRequest",
        "'ObjectSizeGreaterThan' should be between 0 and 1099511627776000.",
        sizes("<ObjectSizeGreaterThan>-1</ObjectSizeGreaterThan>"),
    )
    invalid(
        "InvalidRequest",
        "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.",
        sizes(
            "<And><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan>"
            "<ObjectSizeLessThan>100</ObjectSizeLessThan></And>"
        ),
    )


def test_tag_keys_in_an_and_are_unique() -> None:
    invalid(
        "InvalidRequest",
        "Duplicate Tag Keys are not allowed.",
        xml_rule(
            filter_="<Filter><And><Tag><Key>k</Key><Value>1</Value></Tag>"
            "<Tag><Key>k</Key><Value>2</Value></Tag></And></Filter>"
        ),
    )


def legacy(
    prefix: str, body: str = "<Expiration><Days>1</Days></Expiration>", rule_id: str = "l"
) -> str:
    return f"<Rule><ID>{rule_id}</ID><Prefix>{prefix}</Prefix><Status>Enabled</Status>{body}</Rule>"


def test_rule_level_prefixes_and_filters_do_not_mix() -> None:
    invalid(
        "InvalidRequest",
        "Filter element can only be used in Lifecycle V2.",
        legacy("a/"),
        xml_rule(),
    )
    invalid(
        "InvalidRequest",
        "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the "
        "Filter.",
        xml_rule(),
        legacy("a/"),
    )
    invalid(
        "InvalidRequest",
        "NewerNoncurrentVersions element can only be used in Lifecycle V2.",
        legacy(
            "a/",
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
            "<NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
        ),
    )


def test_overlapping_prefixes_are_refused_only_in_legacy_configurations() -> None:
    invalid(
        "InvalidRequest",
        "Found overlapping prefixes 'foo/bar' and 'foo/bar/buu' for same action type 'Expiration'",
        legacy("foo/bar/buu", rule_id="one"),
        legacy("foo/bar", rule_id="two"),
    )
    invalid(
        "InvalidRequest",
        "Found overlapping prefixes '' and 'a' for same action type 'Expiration'",
        legacy("", rule_id="one"),
        legacy("a", rule_id="two"),
    )
    # Other actions, or prefixes apart, are fine.
    noncurrent = (
        "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
        "</NoncurrentVersionExpiration>"
    )
    assert (
        len(parse_lifecycle(config(legacy("a", rule_id="1"), legacy("ab", noncurrent, "2")))) == 2
    )
    assert len(parse_lifecycle(config(legacy("a/", rule_id="1"), legacy("b/", rule_id="2")))) == 2
    # Filters may overlap: S3 then applies the rule that acts first.
    rules = parsed(
        xml_rule(filter_="<Filter><Prefix>a</Prefix></Filter>", rule_id="1"),
        xml_rule(filter_="<Filter><Prefix>ab</Prefix></Filter>", rule_id="2"),
    )
    assert len(rules) == 2


def test_transitions_are_refused_as_a_storage_class_nexq_does_not_offer() -> None:
    for body in (
        "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>",
        "<Expiration><Days>365</Days></Expiration>"
        "<Transition><Date>2030-01-01T00:00:00Z</Date><StorageClass>STANDARD_IA</StorageClass>"
        "</Transition>",
        "<NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays>"
        "<StorageClass>DEEP_ARCHIVE</StorageClass></NoncurrentVersionTransition>",
    ):
        error = refused(config(xml_rule(body)))
        assert (error.code, error.status, error.message) == (
            "InvalidStorageClass",
            400,
            "The storage class you specified is not valid",
        )


# --- when things fall due ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "eligible"),
    [
        (utc(2014, 1, 15, 10, 30), 3, utc(2014, 1, 19)),  # the user guide's example
        (utc(2014, 1, 2, 11, 30), 5, utc(2014, 1, 8)),  # its noncurrent example
        (utc(2024, 1, 2, 0, 5), 1, utc(2024, 1, 4)),  # the troubleshooting page's
        (utc(2024, 1, 2), 1, utc(2024, 1, 4)),  # exactly midnight: the midnight after
        (utc(2024, 1, 2, 23, 59, 59.999), 1, utc(2024, 1, 4)),
        (utc(2024, 2, 28, 12), 1, utc(2024, 3, 1)),  # a leap day is a day
        (utc(2024, 12, 31, 12), 1, utc(2025, 1, 2)),
    ],
)
def test_days_round_to_the_next_midnight_utc(start: float, days: int, eligible: float) -> None:
    assert eligible_at(start, days) == eligible


def current(
    key: str = "logs/a",
    size: int = 10,
    tags: dict[str, str] | None = None,
    last_modified: float = utc(2024, 1, 2, 10),
) -> Candidate:
    return Candidate(key, size, tags or {}, last_modified)


def days_rule(
    days: int = 1, filter_: Filter | None = None, rule_id: str = "r", enabled: bool = True
) -> Rule:
    return Rule(rule_id, enabled, filter_ or Filter(), Expiration(days=days))


def test_a_current_version_expires_at_the_midnight_its_days_lead_to() -> None:
    rules = [days_rule(1)]
    written = current()  # 2 January, 10:00
    assert due(rules, written, utc(2024, 1, 3, 23, 59, 59)) == Due(Action.NONE)
    assert due(rules, written, utc(2024, 1, 4)) == Due(Action.EXPIRE_CURRENT, "r", utc(2024, 1, 4))
    assert due(rules, written, utc(2025, 1, 1)).action is Action.EXPIRE_CURRENT


def test_a_date_expires_everything_it_covers_from_that_midnight_on() -> None:
    rules = [Rule("d", True, Filter(), Expiration(date=utc(2024, 6, 1)))]
    old = current(last_modified=utc(2020, 1, 1))
    assert due(rules, old, utc(2024, 5, 31, 23, 59)).action is Action.NONE
    assert due(rules, old, utc(2024, 6, 1)) == Due(Action.EXPIRE_CURRENT, "d", utc(2024, 6, 1))
    # Written after the date passed: due at once (the action is not a one-time one).
    late = current(last_modified=utc(2024, 7, 1))
    assert due(rules, late, utc(2024, 7, 1, 1)).action is Action.EXPIRE_CURRENT


def test_disabled_rules_do_nothing() -> None:
    rules = [days_rule(1, enabled=False)]
    assert due(rules, current(), utc(2030, 1, 1)).action is Action.NONE
    assert expiry(rules, "k", 1, {}, utc(2024, 1, 1)) is None


def test_filters_select_the_versions_a_rule_applies_to() -> None:
    now = utc(2030, 1, 1)
    by_prefix = [days_rule(filter_=Filter(FilterForm.PREFIX, prefix="logs/"))]
    assert due(by_prefix, current("logs/x"), now).action is Action.EXPIRE_CURRENT
    assert due(by_prefix, current("data/logs/x"), now).action is Action.NONE
    by_tag = [days_rule(filter_=Filter(FilterForm.TAG, tags=(("class", "tmp"),)))]
    assert (
        due(by_tag, current(tags={"class": "tmp", "other": "x"}), now).action
        is Action.EXPIRE_CURRENT
    )
    assert due(by_tag, current(tags={"class": "TMP"}), now).action is Action.NONE
    assert due(by_tag, current(tags={}), now).action is Action.NONE
    empty_value = [days_rule(filter_=Filter(FilterForm.TAG, tags=(("k", ""),)))]
    assert due(empty_value, current(tags={"k": ""}), now).action is Action.EXPIRE_CURRENT
    assert due(empty_value, current(tags={"k": "v"}), now).action is Action.NONE


def test_an_and_filter_needs_every_predicate_and_sizes_exclude_their_bounds() -> None:
    now = utc(2030, 1, 1)
    both = Filter(
        FilterForm.AND,
        prefix="a/",
        tags=(("k1", "v1"), ("k2", "v2")),
        greater_than=100,
        less_than=1000,
    )
    rules = [days_rule(filter_=both)]
    tags = {"k1": "v1", "k2": "v2"}
    assert due(rules, current("a/x", 101, tags), now).action is Action.EXPIRE_CURRENT
    assert due(rules, current("a/x", 999, tags), now).action is Action.EXPIRE_CURRENT
    for key, size, tags_ in [
        ("a/x", 100, tags),
        ("a/x", 1000, tags),
        ("b/x", 500, tags),
        ("a/x", 500, {"k1": "v1"}),
        ("a/x", 500, {"k1": "v1", "k2": "other"}),
    ]:
        assert due(rules, current(key, size, tags_), now).action is Action.NONE


def test_the_rule_that_acts_first_wins_and_the_first_listed_on_a_tie() -> None:
    rules = [
        days_rule(30, rule_id="slow"),
        days_rule(7, rule_id="fast"),
        days_rule(7, rule_id="twin"),
    ]
    found = due(rules, current(), utc(2030, 1, 1))
    assert (found.action, found.rule_id, found.at) == (
        Action.EXPIRE_CURRENT,
        "fast",
        utc(2024, 1, 10),
    )
    assert expiry(rules, "k", 1, {}, utc(2024, 1, 2, 10)) == (utc(2024, 1, 10), "fast")


def noncurrent(
    newer: int, since: float = utc(2024, 1, 2, 11, 30), delete_marker: bool = False
) -> Candidate:
    return Candidate(
        "k",
        0 if delete_marker else 5,
        {},
        utc(2023, 1, 1),
        is_latest=False,
        is_delete_marker=delete_marker,
        noncurrent_since=since,
        newer_noncurrent_count=newer,
    )


def test_noncurrent_versions_go_the_midnight_after_their_days_since_replaced() -> None:
    rules = [Rule("nc", True, Filter(), noncurrent_expiration=NoncurrentVersionExpiration(5))]
    assert due(rules, noncurrent(0), utc(2024, 1, 7, 23)).action is Action.NONE
    assert due(rules, noncurrent(0), utc(2024, 1, 8)) == Due(
        Action.DELETE_NONCURRENT, "nc", utc(2024, 1, 8)
    )
    # Expiration never touches a noncurrent version, nor this rule a current one.
    assert due([days_rule(1)], noncurrent(0), utc(2030, 1, 1)).action is Action.NONE
    assert due(rules, current(), utc(2030, 1, 1)).action is Action.NONE
    # A noncurrent delete marker is a noncurrent version like the others.
    assert (
        due(rules, noncurrent(0, delete_marker=True), utc(2030, 1, 1)).action
        is Action.DELETE_NONCURRENT
    )


def test_newer_noncurrent_versions_keeps_the_most_recent_ones() -> None:
    # Ten versions: the current one and nine noncurrent; keep 5 noncurrent, as s3-tests expects.
    rules = [Rule("keep5", True, Filter(), noncurrent_expiration=NoncurrentVersionExpiration(1, 5))]
    now = utc(2030, 1, 1)
    fates = [due(rules, noncurrent(newer), now).action for newer in range(9)]
    assert fates == [Action.NONE] * 5 + [Action.DELETE_NONCURRENT] * 4
    # Both conditions must hold: enough newer versions is not enough while too recent.
    assert due(rules, noncurrent(8, since=utc(2029, 12, 31, 12)), now).action is Action.NONE


def test_an_expired_object_delete_marker_is_removed_once_alone() -> None:
    rules = [Rule("m", True, Filter(), Expiration(expired_object_delete_marker=True))]
    marker = Candidate("k", 0, {}, utc(2024, 1, 2, 10), is_delete_marker=True, only_version=True)
    assert due(rules, marker, utc(2024, 1, 2, 10)) == Due(
        Action.REMOVE_DELETE_MARKER, "m", utc(2024, 1, 2, 10)
    )
    # While other versions of its key remain, S3 leaves a current delete marker alone.
    shadowing = Candidate(
        "k", 0, {}, utc(2024, 1, 2, 10), is_delete_marker=True, only_version=False
    )
    assert due(rules, shadowing, utc(2030, 1, 1)).action is Action.NONE
    # false: no action; nor does the flag expire objects.
    off = [Rule("m", True, Filter(), Expiration(expired_object_delete_marker=False))]
    assert due(off, marker, utc(2030, 1, 1)).action is Action.NONE
    assert due(rules, current(), utc(2030, 1, 1)).action is Action.NONE


def test_a_days_expiration_also_removes_lone_delete_markers_once_old_enough() -> None:
    marker = Candidate("k", 0, {}, utc(2024, 1, 2, 10), is_delete_marker=True, only_version=True)
    assert due([days_rule(3)], marker, utc(2024, 1, 5, 23)).action is Action.NONE
    assert due([days_rule(3)], marker, utc(2024, 1, 6)) == Due(
        Action.REMOVE_DELETE_MARKER, "r", utc(2024, 1, 6)
    )
    dated = [Rule("d", True, Filter(), Expiration(date=utc(2020, 1, 1)))]
    assert due(dated, marker, utc(2030, 1, 1)).action is Action.NONE


def test_uploads_are_aborted_the_midnight_after_their_days() -> None:
    rules = [
        Rule("tmp", True, Filter(FilterForm.PREFIX, prefix="tmp/"), abort_after_days=1),
        Rule("all", True, Filter(), abort_after_days=7),
        Rule("off", False, Filter(), abort_after_days=1),
    ]
    begun = utc(2024, 1, 2, 10)
    assert abort_date(rules, "tmp/x", begun) == (utc(2024, 1, 4), "tmp")
    assert abort_date(rules, "data/x", begun) == (utc(2024, 1, 10), "all")
    assert abort_date([rules[2]], "x", begun) is None
    assert not abort_due(rules, "tmp/x", begun, utc(2024, 1, 3, 23, 59))
    assert abort_due(rules, "tmp/x", begun, utc(2024, 1, 4))
    assert not abort_due(rules, "data/x", begun, utc(2024, 1, 9))
    assert abort_due(rules, "data/x", begun, utc(2024, 1, 10))


# --- headers -------------------------------------------------------------------------------


def test_the_expiration_header_names_the_date_and_rule() -> None:
    rules = [days_rule(3, rule_id="picture-deletion-rule")]
    assert expiration_header(rules, "k", 1, {}, utc(2012, 12, 19, 10, 30)) == (
        'expiry-date="Sun, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule"'
    )
    dated = [Rule("Rule for testfile.txt", True, Filter(), Expiration(date=utc(2012, 12, 21)))]
    assert expiration_header(dated, "k", 1, {}, utc(2030, 1, 1)) == (
        'expiry-date="Fri, 21 Dec 2012 00:00:00 GMT", rule-id="Rule for testfile.txt"'
    )


def test_no_expiration_header_without_an_expiring_rule_that_matches() -> None:
    tagged = [days_rule(filter_=Filter(FilterForm.TAG, tags=(("a", "1"),)))]
    assert expiration_header(tagged, "k", 1, {"a": "1"}, 0) is not None
    assert expiration_header(tagged, "k", 1, {"a": "2"}, 0) is None
    marker_only = [Rule("m", True, Filter(), Expiration(expired_object_delete_marker=True))]
    assert expiration_header(marker_only, "k", 1, {}, 0) is None
    noncurrent_only = [
        Rule("n", True, Filter(), noncurrent_expiration=NoncurrentVersionExpiration(1))
    ]
    assert expiration_header(noncurrent_only, "k", 1, {}, 0) is None


def test_rule_ids_a_header_cannot_carry_are_percent_encoded() -> None:
    rules = [days_rule(rule_id='say "hi" \\ 環')]
    header = expiration_header(rules, "k", 1, {}, 0)
    assert header is not None
    assert header.endswith('rule-id="say %22hi%22 %5C %E7%92%B0"')


def test_abort_headers() -> None:
    rules = [Rule("Abort after 7 days", True, Filter(), abort_after_days=7)]
    assert abort_headers(rules, "k", utc(2025, 8, 11, 15)) == {
        "x-amz-abort-date": "Tue, 19 Aug 2025 00:00:00 GMT",
        "x-amz-abort-rule-id": "Abort after 7 days",
    }
    assert abort_headers([days_rule()], "k", 0) == {}


# --- the stored form -----------------------------------------------------------------------


def test_rules_read_back_from_their_stored_form() -> None:
    body = config(
        xml_rule(
            "<Expiration><Days>365</Days></Expiration>",
            "<Filter><Prefix>logs/</Prefix></Filter>",
            "a",
        ),
        xml_rule(
            "<Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration>"
            "<NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays>"
            "<NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
            "<Filter><And><Prefix></Prefix><Tag><Key>環境</Key><Value>x</Value></Tag>"
            "<ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter>",
            "b",
            "Disabled",
        ),
        xml_rule(
            "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
            + ABORT,
            "<Filter/>",
            "c",
        ),
    )
    rules = parse_lifecycle(body)
    text = rules_to_json(rules)
    assert rules_from_json(text) == rules
    assert "環境" in text and " " not in text
    assert render_lifecycle(rules_from_json(text)) == render_lifecycle(rules)
