"""Databases, as the platform sees it before anything is built."""

from nexq.core.identity import Scope
from nexq.databases import admin
from nexq.databases.schema import SCHEMA
from nexq.platform import Package

SCOPES = (
    Scope("databases:read", "List databases, their connection details, nodes and backups."),
    Scope("databases:write", "Create and delete databases; reset their owner's password."),
)
PACKAGE = Package("databases", SCHEMA, SCOPES, admin.commands)
