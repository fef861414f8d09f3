"""The IAM policy language's value patterns and Condition operators, as S3 bucket policies
use them: parsed once when a policy is put, then evaluated against each request's keys."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator as op
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

# A request's condition keys, lower-cased, each with its values (one for most keys).
Keys = Mapping[str, tuple[str, ...]]


class InvalidCondition(ValueError):
    """A Condition element or a pattern that the policy language refuses (the message is
    the one S3 gives, or names the operator, the key and the value)."""


# --- patterns: literal text, wildcards, ${...} policy variables ---------------------------

_STAR, _ONE = object(), object()  # the two wildcards, as tokens
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True, slots=True)
class Variable:
    """A ``${key}`` (or ``${key, 'default'}``) read from the request's condition keys."""

    key: str
    default: str | None = None

    def resolve(self, keys: Keys) -> str | None:
        values = keys.get(self.key)
        # A multi-valued key has no single text to put in a pattern, so it resolves to nothing.
        if values is not None and len(values) == 1:
            return values[0]
        return self.default


Part = str | Variable | object  # literal text, a variable, or a wildcard token


def _variable(inner: str) -> Variable:
    name, _, default = inner.partition(",")
    default = default.strip()
    if len(default) >= 2 and default[0] == default[-1] == "'":
        return Variable(name.strip().lower(), default[1:-1])
    return Variable(name.strip().lower())


def _parts(text: str, *, wildcards: bool, variables: bool) -> list[Part]:
    parts: list[Part] = []
    i = 0
    while i < len(text):
        char = text[i]
        end = text.find("}", i + 2) if variables and text.startswith("${", i) else -1
        if end > 0:
            inner = text[i + 2 : end]
            parts.append(_ESCAPES.get(inner) or _variable(inner))
            i = end + 1
            continue
        if wildcards and char in "*?":
            parts.append(_STAR if char == "*" else _ONE)
        else:
            parts.append(char)
        i += 1
    return parts


class Pattern:
    """A policy value matched against request text: with ``*`` and ``?`` as wildcards or
    not, with policy variables (version 2012-10-17) or not, and matched as whole text or
    colon-separated ARN segment by segment (a wildcard never crosses a segment)."""

    __slots__ = ("_fixed", "_flags", "_segments", "has_variables", "has_wildcards", "text")

    def __init__(
        self,
        text: str,
        *,
        wildcards: bool,
        variables: bool,
        arn: bool = False,
        ignore_case: bool = False,
    ) -> None:
        self.text = text
        parts = _parts(text, wildcards=wildcards, variables=variables)
        self._segments = _split_segments(parts) if arn else [parts]
        self.has_variables = any(isinstance(p, Variable) for p in parts)
        self.has_wildcards = any(p is _STAR or p is _ONE for p in parts)
        self._flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        self._fixed = None if self.has_variables else self._compile({})

    def _compile(self, keys: Keys) -> list[re.Pattern[str]] | None:
        compiled = []
        for segment in self._segments:
            source = _glob_source(segment, keys)
            if source is None:
                return None  # an unresolved variable matches nothing
            compiled.append(re.compile(source, self._flags))
        return compiled

    def matches(self, value: str, keys: Keys) -> bool:
        """Whether ``value`` is matched, policy variables taken from ``keys``."""
        compiled = self._fixed if self._fixed is not None else self._compile(keys)
        if compiled is None:
            return False
        pieces = value.split(":", len(compiled) - 1)
        if len(pieces) != len(compiled):
            return False
        return all(regex.fullmatch(piece) for regex, piece in zip(compiled, pieces, strict=True))

    def could_match(self, prefix: str, *, whole: bool) -> bool:
        """Whether some value that is ``prefix`` (``whole``) or starts with it could match,
        a variable standing for any text: how a resource is held against its bucket."""
        tokens: list[Part] = []
        for n, segment in enumerate(self._segments):
            if n:
                tokens.append(":")
            tokens.extend(_STAR if isinstance(p, Variable) else p for p in segment)
        states = _closure({0}, tokens)
        for char in prefix:
            following = set()
            for i in states:
                if i < len(tokens):
                    token = tokens[i]
                    if token is _STAR:
                        following.add(i)
                    elif token is _ONE or token == char:
                        following.add(i + 1)
            states = _closure(following, tokens)
        return len(tokens) in states if whole else bool(states)


def _glob_source(parts: list[Part], keys: Keys) -> str | None:
    """A regular expression for a run of parts, in which each chunk between two ``*`` is
    taken at its first place (an atomic group): a pattern with many wildcards then costs
    time in proportion to its text, never the exponential backtracking of ``.*`` runs."""
    chunks: list[str] = [""]
    for part in parts:
        if part is _STAR:
            chunks.append("")
        elif part is _ONE:
            chunks[-1] += "."
        elif isinstance(part, Variable):
            value = part.resolve(keys)
            if value is None:
                return None
            chunks[-1] += re.escape(value)
        else:
            chunks[-1] += re.escape(str(part))
    if len(chunks) == 1:
        return chunks[0]
    middle = "".join(f"(?>.*?{chunk})" for chunk in chunks[1:-1] if chunk)
    return f"{chunks[0]}{middle}.*{chunks[-1]}"


def glob(text: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """``text`` with ``*`` and ``?`` as wildcards, for ``fullmatch`` (an Action's names)."""
    source = _glob_source(_parts(text, wildcards=True, variables=False), {})
    assert source is not None  # no variables, so nothing to resolve
    return re.compile(source, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _closure(states: set[int], tokens: list[Part]) -> set[int]:
    out = set(states)
    pending = list(states)
    while pending:
        i = pending.pop()
        if i < len(tokens) and tokens[i] is _STAR and i + 1 not in out:
            out.add(i + 1)
            pending.append(i + 1)
    return out


def _split_segments(parts: list[Part]) -> list[list[Part]]:
    # An ARN has six segments; a colon after the fifth belongs to the resource (an object key).
    segments: list[list[Part]] = [[]]
    for part in parts:
        if part == ":" and len(segments) < 6:
            segments.append([])
        else:
            segments[-1].append(part)
    return segments


# --- typed values --------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_EPOCH = re.compile(r"\d+(\.\d+)?")
_ISO = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"([Zz]|[+-]\d{2}:?\d{2})?)?)?)?"
)


def parse_number(text: str) -> Decimal | None:
    """A Numeric operator's value, or None when the text is not a number."""
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None


def parse_date(text: str) -> Decimal | None:
    """A Date operator's value as epoch seconds: epoch digits, or one of the W3C profiles of
    ISO 8601 (YYYY, YYYY-MM, YYYY-MM-DD, then a time to the minute, second or fraction);
    a time with no zone is UTC. All digits is read as epoch seconds, never as a year."""
    if _EPOCH.fullmatch(text):
        return Decimal(text)
    m = _ISO.fullmatch(text)
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    tz: timezone = UTC
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    fields = zip((year, month, day, hour, minute, second), (0, 1, 1, 0, 0, 0), strict=True)
    y, mo, d, h, mi, sec = (int(given or default) for given, default in fields)
    try:
        moment = datetime(y, mo, d, h, mi, sec, tzinfo=tz)
    except ValueError:
        return None
    return Decimal(int(moment.timestamp())) + Decimal(fraction or 0)


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An IpAddress operator's CIDR (a bare address is /32 or /128), or None."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _parse_binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _parse_bool(text: str) -> str | None:
    lowered = text.lower()
    return lowered if lowered in ("true", "false") else None


# --- operators -----------------------------------------------------------------------------

_ORDER: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "Equals": op.eq,
    "NotEquals": op.eq,  # negated below
    "LessThan": op.lt,
    "LessThanEquals": op.le,
    "GreaterThan": op.gt,
    "GreaterThanEquals": op.ge,
}

# Operator → (family, negated). Names are case-sensitive, as S3 reads them.
OPERATORS: dict[str, tuple[str, bool]] = {
    "StringEquals": ("string", False),
    "StringNotEquals": ("string", True),
    "StringEqualsIgnoreCase": ("string-ignore-case", False),
    "StringNotEqualsIgnoreCase": ("string-ignore-case", True),
    "StringLike": ("string-like", False),
    "StringNotLike": ("string-like", True),
    **{f"Numeric{name}": ("numeric", name == "NotEquals") for name in _ORDER},
    **{f"Date{name}": ("date", name == "NotEquals") for name in _ORDER},
    "Bool": ("bool", False),
    "BinaryEquals": ("binary", False),
    "IpAddress": ("ip", False),
    "NotIpAddress": ("ip", True),
    "ArnEquals": ("arn", False),
    "ArnLike": ("arn", False),
    "ArnNotEquals": ("arn", True),
    "ArnNotLike": ("arn", True),
    "Null": ("null", False),
}
QUALIFIERS = ("ForAnyValue", "ForAllValues")
# Keys of the global (aws:) and S3 (s3:) families; tag keys may hold spaces and + = . _ : / @.
_KEY = re.compile(r"(aws|s3):[^\x00-\x1f]+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Condition:
    """One key tested by one operator: ``{"StringLike": {"s3:prefix": ["a/*", "b/*"]}}``."""

    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    base: str  # the operator without qualifier and IfExists, e.g. "StringLike"
    qualifier: str | None
    if_exists: bool
    negated: bool
    key: str  # lower-cased: condition keys are case-insensitive
    values: tuple[object, ...]  # parsed by the operator's family

    def holds(self, keys: Keys) -> bool:
        """Whether the request's ``keys`` satisfy this condition (AWS's rules: several values
        are ORed; a missing key fails the test except for IfExists, Null, ForAllValues and
        the negated operators, which hold when there is nothing to match)."""
        request = keys.get(self.key, ())
        if self.base == "Null":
            return ("true" if not request else "false") in self.values
        if not request:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            return self.negated and self.qualifier is None
        results = [self._one(value, keys) != self.negated for value in request]
        if self.qualifier == "ForAllValues":
            return all(results)
        if self.qualifier == "ForAnyValue" or not self.negated:
            return any(results)
        return all(results)  # negated, unqualified: none of the request's values matches

    def _one(self, value: str, keys: Keys) -> bool:
        family = OPERATORS[self.base][0]
        if family in ("string", "string-ignore-case", "string-like", "arn"):
            return any(p.matches(value, keys) for p in self.values if isinstance(p, Pattern))
        if family == "bool":
            return value.lower() in self.values
        if family == "numeric":
            return _compare(parse_number(value), self.base.removeprefix("Numeric"), self.values)
        if family == "date":
            return _compare(parse_date(value), self.base.removeprefix("Date"), self.values)
        if family == "ip":
            try:
                address = ipaddress.ip_address(value.strip())
            except ValueError:
                return False
            return any(address in net for net in self.values if isinstance(net, _NETWORKS))
        decoded = _parse_binary(value)  # binary: the request gives its value in base64 too
        return decoded is not None and decoded in self.values


_NETWORKS = (ipaddress.IPv4Network, ipaddress.IPv6Network)


def _compare(value: Decimal | None, name: str, limits: tuple[object, ...]) -> bool:
    if value is None:
        return False
    compare = _ORDER[name]
    return any(compare(value, limit) for limit in limits if isinstance(limit, Decimal))


def parse_conditions(raw: object, *, variables: bool) -> tuple[Condition, ...]:
    """A statement's Condition element; InvalidCondition names what S3 would refuse."""
    if not isinstance(raw, dict):
        raise InvalidCondition("Condition must be an object of condition operators")
    conditions: list[Condition] = []
    for operator, block in raw.items():
        base, qualifier, if_exists = _split_operator(operator)
        if not isinstance(block, dict):
            raise InvalidCondition(f"Condition {operator} must be an object of condition keys")
        for key, given in block.items():
            if not _KEY.fullmatch(key):
                raise InvalidCondition("Policy has an invalid condition key")
            family, negated = OPERATORS[base]
            texts = _texts(given, operator, key)
            values = tuple(_value(family, t, operator, key, variables) for t in texts)
            conditions.append(
                Condition(operator, base, qualifier, if_exists, negated, key.lower(), values)
            )
    return tuple(conditions)


def _split_operator(operator: str) -> tuple[str, str | None, bool]:
    qualifier, _, rest = operator.rpartition(":")
    if qualifier and qualifier not in QUALIFIERS:
        raise InvalidCondition(f"Invalid Condition type : {operator}")
    if_exists = rest.endswith("IfExists") and rest != "IfExists"
    base = rest.removesuffix("IfExists") if if_exists else rest
    if base not in OPERATORS or (base == "Null" and if_exists):
        raise InvalidCondition(f"Invalid Condition type : {operator}")
    return base, qualifier or None, if_exists


def _texts(given: object, operator: str, key: str) -> list[str]:
    items = given if isinstance(given, list) else [given]
    if not items:
        raise InvalidCondition(f"Condition {operator} on {key} has no values")
    texts = []
    for item in items:
        if isinstance(item, bool):
            texts.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            texts.append(str(item))
        else:
            raise InvalidCondition(f"Condition {operator} on {key} has an invalid value {item!r}")
    return texts


# Each family's reading of a policy value; None for a value it cannot take.
_READERS: dict[str, Callable[[str, bool], object | None]] = {
    "string": lambda text, v: Pattern(text, wildcards=False, variables=v),
    "string-ignore-case": lambda t, v: Pattern(t, wildcards=False, variables=v, ignore_case=True),
    "string-like": lambda text, v: Pattern(text, wildcards=True, variables=v),
    "arn": lambda text, v: Pattern(text, wildcards=True, variables=v, arn=True),
    "numeric": lambda text, _: parse_number(text),
    "date": lambda text, _: parse_date(text),
    "ip": lambda text, _: parse_network(text),
    "binary": lambda text, _: _parse_binary(text),
    "bool": lambda text, _: _parse_bool(text),
    "null": lambda text, _: _parse_bool(text),
}
_EXPECTED = {
    "numeric": "a number",
    "date": "an ISO 8601 date or epoch seconds",
    "binary": "base64",
    "bool": "true or false",
    "null": "true or false",
}


def _value(family: str, text: str, operator: str, key: str, variables: bool) -> object:
    parsed = _READERS[family](text, variables)
    if parsed is None and family == "ip":
        raise InvalidCondition("Invalid IP address in Conditions")
    if parsed is None:
        raise InvalidCondition(
            f"Condition {operator} on {key} has an invalid value {text!r} "
            f"({_EXPECTED[family]} expected)"
        )
    return parsed
