"""Support, as the platform sees it before anything is built."""

from nexq.platform import Package
from nexq.support import admin
from nexq.support.descriptor import SCOPES
from nexq.support.schema import SCHEMA

PACKAGE = Package("support", SCHEMA, SCOPES, admin.commands)
