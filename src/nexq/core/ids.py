"""Identifiers and random tokens."""

import secrets
import string
import uuid

LOWER_ALNUM = string.ascii_lowercase + string.digits
ALNUM = string.ascii_letters + string.digits


def new_id() -> str:
    """A random, sortable-enough opaque id for internal records."""
    return uuid.uuid4().hex


def random_string(length: int, alphabet: str = ALNUM) -> str:
    """A cryptographically random string drawn from ``alphabet``."""
    return "".join(secrets.choice(alphabet) for _ in range(length))
