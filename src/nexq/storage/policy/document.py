"""A bucket policy document: parsed and checked as S3's PutBucketPolicy checks it, and kept
with its original text (GetBucketPolicy answers what was stored, byte for byte)."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass

from nexq.core.errors import Invalid
from nexq.storage.policy.conditions import (
    Condition,
    InvalidCondition,
    Pattern,
    glob,
    parse_conditions,
)


class MalformedPolicy(Invalid):
    """The policy is not valid JSON or breaks the policy language (S3's MalformedPolicy)."""


MAX_POLICY_BYTES = 20 * 1024  # S3's limit, measured on the document without its whitespace
_MAX_TEXT_BYTES = 16 * MAX_POLICY_BYTES  # what is worth parsing at all to measure it
VERSIONS = ("2012-10-17", "2008-10-17")  # only the first has ${...} policy variables


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class ActionKind(enum.Enum):
    """What an action's ARN names: a bucket, an object, or the account (never in a bucket)."""

    BUCKET = "bucket"
    OBJECT = "object"
    ACCOUNT = "account"


_OBJECT_ACTIONS = """
AbortMultipartUpload BypassGovernanceRetention DeleteObject DeleteObjectTagging
DeleteObjectVersion DeleteObjectVersionTagging GetObject GetObjectAcl GetObjectAttributes
GetObjectLegalHold GetObjectRetention GetObjectTagging GetObjectTorrent GetObjectVersion
GetObjectVersionAcl GetObjectVersionAttributes GetObjectVersionForReplication
GetObjectVersionTagging GetObjectVersionTorrent InitiateReplication ListMultipartUploadParts
ObjectOwnerOverrideToBucketOwner PutObject PutObjectAcl PutObjectLegalHold PutObjectRetention
PutObjectTagging PutObjectVersionAcl PutObjectVersionTagging ReplicateDelete ReplicateObject
ReplicateTags RestoreObject
"""
_BUCKET_ACTIONS = """
CreateBucket CreateBucketMetadataTableConfiguration DeleteBucket
DeleteBucketMetadataTableConfiguration DeleteBucketPolicy DeleteBucketWebsite
GetAccelerateConfiguration GetAnalyticsConfiguration GetBucketAcl GetBucketCORS
GetBucketLocation GetBucketLogging GetBucketMetadataTableConfiguration GetBucketNotification
GetBucketObjectLockConfiguration GetBucketOwnershipControls GetBucketPolicy
GetBucketPolicyStatus GetBucketPublicAccessBlock GetBucketRequestPayment GetBucketTagging
GetBucketVersioning GetBucketWebsite GetEncryptionConfiguration
GetIntelligentTieringConfiguration GetInventoryConfiguration GetLifecycleConfiguration
GetMetricsConfiguration GetReplicationConfiguration ListBucket ListBucketMultipartUploads
ListBucketVersions PutAccelerateConfiguration PutAnalyticsConfiguration PutBucketAcl
PutBucketCORS PutBucketLogging PutBucketNotification PutBucketObjectLockConfiguration
PutBucketOwnershipControls PutBucketPolicy PutBucketPublicAccessBlock PutBucketRequestPayment
PutBucketTagging PutBucketVersioning PutBucketWebsite PutEncryptionConfiguration
PutIntelligentTieringConfiguration PutInventoryConfiguration PutLifecycleConfiguration
PutMetricsConfiguration PutReplicationConfiguration
"""
# Account-wide actions are S3 actions too, but no bucket's ARN names them: a bucket policy
# that lists one alone is refused as not applying to its resources, as S3 refuses it.
_ACCOUNT_ACTIONS = """
CreateJob GetAccountPublicAccessBlock ListAccessPoints ListAllMyBuckets ListJobs
PutAccountPublicAccessBlock
"""
# The S3 actions of AWS's Service Authorization Reference that Nexq recognises, by name.
ACTIONS: dict[str, ActionKind] = {
    f"s3:{name}": kind
    for names, kind in (
        (_OBJECT_ACTIONS, ActionKind.OBJECT),
        (_BUCKET_ACTIONS, ActionKind.BUCKET),
        (_ACCOUNT_ACTIONS, ActionKind.ACCOUNT),
    )
    for name in names.split()
}
_ACTION_NAMES = {name.lower(): name for name in ACTIONS}


@dataclass(frozen=True, slots=True)
class ActionPattern:
    """An Action element's entry (``s3:GetObject``, ``s3:Get*``, ``*``): case-insensitive."""

    text: str
    regex: re.Pattern[str]

    def matches(self, action: str) -> bool:
        return self.regex.fullmatch(action) is not None

    def kinds(self) -> frozenset[ActionKind]:
        """What the known actions it covers apply to."""
        return frozenset(kind for name, kind in ACTIONS.items() if self.matches(name))


def _action(text: object) -> ActionPattern:
    if not isinstance(text, str) or not text:
        raise MalformedPolicy("Policy has invalid action")
    # Action names hold no ${...}: IAM expands no variables in Action.
    pattern = ActionPattern(text, glob(text, ignore_case=True))
    if not any(pattern.matches(name) for name in ACTIONS):
        raise MalformedPolicy("Policy has invalid action")
    return pattern


# Nexq's account ids are opaque (32 hex digits today); AWS's are 12 digits, S3's canonical
# user ids 64 hex digits. A principal names an account by any id of this shape.
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")
_ROOT_ARN = re.compile(r"arn:aws:iam::([A-Za-z0-9][A-Za-z0-9_\-]{0,63}):root")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.\-]*")


@dataclass(frozen=True, slots=True)
class Principals:
    """Who a Principal (or NotPrincipal) element names.

    Nexq's callers are accounts: ``{"AWS": "<account id>"}``, ``{"AWS":
    "arn:aws:iam::<account id>:root"}`` and ``{"CanonicalUser": "<account id>"}`` (Nexq's
    canonical user id is the account id, as its ACLs show) all name every caller of that
    account; the id is any 1-64 letters, digits, ``-`` or ``_`` (Nexq's, AWS's and
    canonical ids all fit), compared exactly. ``"*"`` and ``{"AWS": "*"}`` name everyone,
    anonymous callers included. Service and Federated principals are accepted as S3 accepts
    them and name no Nexq caller. IAM users and roles (``arn:aws:iam::1:user/x``) do not
    exist in Nexq and are refused, as S3 refuses principals that do not exist.
    """

    everyone: bool = False
    accounts: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()

    def matches(self, account: str | None) -> bool:
        """Whether a caller of ``account`` (None: anonymous) is named."""
        return self.everyone or (account is not None and account in self.accounts)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement; each ``*_negated`` says the element was NotPrincipal, NotAction or
    NotResource (the statement then applies to everything except what it lists)."""

    sid: str | None
    effect: Effect
    principals: Principals
    principals_negated: bool
    actions: tuple[ActionPattern, ...]
    actions_negated: bool
    resources: tuple[Pattern, ...]
    resources_negated: bool
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """A bucket policy as put: its exact text and what it says."""

    text: str
    bucket: str
    version: str | None
    id: str | None
    statements: tuple[Statement, ...]

    @property
    def accounts(self) -> frozenset[str]:
        """Every account a statement names, for the caller to check that each exists (S3
        answers "Invalid principal in policy" for one that does not)."""
        return frozenset(a for s in self.statements for a in s.principals.accounts)


_TOP_FIELDS = ("Version", "Id", "Statement")
_STATEMENT_FIELDS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)


def parse_policy(text: str, bucket: str) -> Policy:
    """The policy ``text`` put on ``bucket``; MalformedPolicy, with S3's message where S3
    has one, for anything S3 refuses."""
    if not text.startswith("{"):
        raise MalformedPolicy("Policies must be valid JSON and the first byte must be '{'")
    if len(text.encode()) > _MAX_TEXT_BYTES:
        raise MalformedPolicy("Policy exceeds the maximum allowed document size.")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        raise MalformedPolicy("This policy contains invalid Json") from exc
    compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    if len(compact.encode()) > MAX_POLICY_BYTES:
        raise MalformedPolicy("Policy exceeds the maximum allowed document size.")
    _known_fields(document, _TOP_FIELDS)
    version = document.get("Version")
    if version is not None and version not in VERSIONS:
        raise MalformedPolicy("The policy must contain a valid version string")
    policy_id = document.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise MalformedPolicy(f"Id must be a string, not {policy_id!r}")
    if "Statement" not in document:
        raise MalformedPolicy("Missing required field Statement")
    raw = document["Statement"]
    if raw in ([], {}):
        raise MalformedPolicy("Could not parse the policy: Statement is empty!")
    raws = raw if isinstance(raw, list) else [raw]
    variables = version == "2012-10-17"
    statements = tuple(_statement(r, bucket, variables) for r in raws)
    sids = [s.sid for s in statements if s.sid is not None]
    if len(sids) != len(set(sids)):
        raise MalformedPolicy("Statement IDs (SID) in a single policy must be unique.")
    return Policy(text, bucket, version, policy_id, statements)


def _not_json(constant: str) -> None:
    # Python's json reads NaN and Infinity, which JSON (and S3) does not have.
    raise MalformedPolicy("This policy contains invalid Json")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # A repeated field (two Conditions, two Effects) would silently keep only the last one.
    seen: dict[str, object] = {}
    for name, value in pairs:
        if name in seen:
            raise MalformedPolicy(f"This policy contains invalid Json: {name} is repeated")
        seen[name] = value
    return seen


def _known_fields(element: dict[str, object], fields: tuple[str, ...]) -> None:
    for name in element:
        if name not in fields:
            raise MalformedPolicy(f"Unknown field {name}")


def _statement(raw: object, bucket: str, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicy(f"A statement must be an object, not {raw!r}")
    _known_fields(raw, _STATEMENT_FIELDS)
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicy(f"Sid must be a string, not {sid!r}")
    if "Effect" not in raw:
        raise MalformedPolicy("Missing required field Effect")
    try:
        effect = Effect(raw["Effect"])
    except ValueError:
        raise MalformedPolicy(f"Invalid effect: {raw['Effect']}") from None
    principal_field = _one_of(raw, "Principal", "NotPrincipal")
    action_field = _one_of(raw, "Action", "NotAction")
    resource_field = _one_of(raw, "Resource", "NotResource")
    principals = _principals(raw[principal_field])
    actions = tuple(_action(a) for a in _list(raw[action_field], "Policy has invalid action"))
    resources = tuple(
        _resource(r, bucket, variables)
        for r in _list(raw[resource_field], "Policy has invalid resource")
    )
    if action_field == "Action" and resource_field == "Resource":
        _actions_apply(actions, resources, bucket)
    try:
        conditions = parse_conditions(raw.get("Condition", {}), variables=variables)
    except InvalidCondition as exc:
        raise MalformedPolicy(str(exc)) from None
    return Statement(
        sid,
        effect,
        principals,
        principal_field == "NotPrincipal",
        actions,
        action_field == "NotAction",
        resources,
        resource_field == "NotResource",
        conditions,
    )


def _one_of(raw: dict[str, object], field: str, negated: str) -> str:
    if field in raw and negated in raw:
        raise MalformedPolicy(f"A statement may have {field} or {negated}, not both")
    if field not in raw and negated not in raw:
        raise MalformedPolicy(f"Missing required field {field}")
    return field if field in raw else negated


def _list(value: object, message: str) -> list[object]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise MalformedPolicy(message)
    return values


def _principals(raw: object) -> Principals:
    if raw == "*":
        return Principals(everyone=True)
    if raw in ({}, [], ""):
        raise MalformedPolicy("Missing required field Principal cannot be empty!")
    if not isinstance(raw, dict):
        raise MalformedPolicy("Invalid principal in policy")
    everyone = False
    accounts: set[str] = set()
    services: set[str] = set()
    federated: set[str] = set()
    for kind, given in raw.items():
        values = given if isinstance(given, list) else [given]
        if not values or not all(isinstance(v, str) for v in values):
            raise MalformedPolicy("Invalid principal in policy")
        for value in values:
            assert isinstance(value, str)  # checked above; narrows for mypy
            if kind == "AWS" and value == "*":
                everyone = True
            elif kind in ("AWS", "CanonicalUser") and _ACCOUNT_ID.fullmatch(value):
                accounts.add(value)
            elif kind == "AWS" and (root := _ROOT_ARN.fullmatch(value)):
                accounts.add(root.group(1))
            elif kind == "Service" and _SERVICE.fullmatch(value):
                services.add(value)
            elif kind == "Federated" and value and "*" not in value:
                federated.add(value)
            else:
                raise MalformedPolicy("Invalid principal in policy")
    return Principals(everyone, frozenset(accounts), frozenset(services), frozenset(federated))


def bucket_arn(bucket: str) -> str:
    """The ARN of a bucket, as a policy's Resource names it."""
    return f"arn:aws:s3:::{bucket}"


def _resource(raw: object, bucket: str, variables: bool) -> Pattern:
    if not isinstance(raw, str) or not raw:
        raise MalformedPolicy("Policy has invalid resource")
    pattern = Pattern(raw, wildcards=True, variables=variables, arn=True)
    # S3 compat: every resource of a bucket's policy must be that bucket or its objects.
    names_bucket = pattern.could_match(bucket_arn(bucket), whole=True)
    if not names_bucket and not pattern.could_match(f"{bucket_arn(bucket)}/", whole=False):
        raise MalformedPolicy("Policy has invalid resource")
    return pattern


def _actions_apply(
    actions: tuple[ActionPattern, ...], resources: tuple[Pattern, ...], bucket: str
) -> None:
    kinds: set[ActionKind] = set()
    for resource in resources:
        if resource.could_match(bucket_arn(bucket), whole=True):
            kinds.add(ActionKind.BUCKET)
        if resource.could_match(f"{bucket_arn(bucket)}/", whole=False):
            kinds.add(ActionKind.OBJECT)
    for action in actions:
        if not action.kinds() & kinds:
            raise MalformedPolicy("Action does not apply to any resource(s) in statement")
