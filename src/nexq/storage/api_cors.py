"""A bucket's CORS rules as the REST API reads and writes them: the JSON shape aws-cli uses
(``aws s3api put-bucket-cors --cors-configuration file://cors.json``).

The rules are checked by the very code PutBucketCors runs (``s3/cors.py``), one rule at a
time so that an error names the rule it is about, then as a whole for the document's limits.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from nexq.core.errors import Invalid
from nexq.storage.s3.cors import MAX_DOCUMENT_BYTES, MAX_RULES, CORSRule, parse_cors, render_cors
from nexq.storage.s3.errors import S3Error

_Texts = Annotated[list[str], Field(min_length=1)]


class CORSRuleDocument(BaseModel):
    """One rule. Fields are named as aws-cli names them, so that a file written for aws-cli,
    or what GET answers, can be PUT as it is."""

    model_config = ConfigDict(extra="forbid")

    ID: Annotated[str | None, Field(description="At most 255 characters.")] = None
    AllowedHeaders: list[str] | None = None
    AllowedMethods: Annotated[_Texts, Field(description="GET, PUT, POST, DELETE, HEAD.")]
    AllowedOrigins: Annotated[_Texts, Field(description="One `*` wildcard at most in each.")]
    ExposeHeaders: list[str] | None = None
    MaxAgeSeconds: Annotated[int | None, Field(ge=0, le=2**31 - 1)] = None


class CORSDocument(BaseModel):
    """``{"CORSRules": [...]}``: the first rule that matches a request answers it."""

    model_config = ConfigDict(extra="forbid")

    CORSRules: Annotated[list[CORSRuleDocument], Field(min_length=1, max_length=MAX_RULES)]


def cors_rules(document: CORSDocument) -> list[CORSRule]:
    """The rules of ``document``, or Invalid naming the rule and what S3 refuses in it."""
    rules = [
        CORSRule(
            allowed_origins=tuple(rule.AllowedOrigins),
            allowed_methods=tuple(rule.AllowedMethods),
            allowed_headers=tuple(rule.AllowedHeaders or ()),
            expose_headers=tuple(rule.ExposeHeaders or ()),
            max_age_seconds=rule.MaxAgeSeconds,
            id=rule.ID,
        )
        for rule in document.CORSRules
    ]
    for index, rule in enumerate(rules):
        _as_s3_checks(render_cors([rule]), f"CORSRules[{index}]")
    text = render_cors(rules)
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise Invalid(
            f"CORSRules: the configuration is over {MAX_DOCUMENT_BYTES // 1024} KB once "
            "written as S3's XML document, S3's limit."
        )
    return rules


def _as_s3_checks(text: str, where: str) -> None:
    try:
        parse_cors(text.encode())
    except S3Error as exc:
        if exc.code == "MalformedXML":
            # The shape was checked already: only a character XML cannot carry gets here.
            raise Invalid(f"{where}: a value holds a character S3 cannot store.") from None
        raise Invalid(f"{where}: {exc.message}") from None


def cors_document(rules: list[CORSRule]) -> CORSDocument:
    """The JSON shape of stored rules (empty lists and absent values left out)."""
    return CORSDocument(
        CORSRules=[
            CORSRuleDocument(
                ID=rule.id,
                AllowedHeaders=list(rule.allowed_headers) or None,
                AllowedMethods=list(rule.allowed_methods),
                AllowedOrigins=list(rule.allowed_origins),
                ExposeHeaders=list(rule.expose_headers) or None,
                MaxAgeSeconds=rule.max_age_seconds,
            )
            for rule in rules
        ]
    )


def stored_cors(text: str) -> list[CORSRule]:
    """The rules kept under the bucket setting ``cors`` (S3's rendered document)."""
    return parse_cors(text.encode())
