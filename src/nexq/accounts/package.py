"""Account, as the platform sees it before anything is built."""

from nexq.accounts import admin
from nexq.accounts.model import SCOPES
from nexq.accounts.schema import SCHEMA
from nexq.platform import Package

PACKAGE = Package("account", SCHEMA, SCOPES, admin.commands)
