"""Billing, as the platform sees it before anything is built."""

from nexq.billing import admin
from nexq.billing.descriptor import SCOPES
from nexq.billing.schema import SCHEMA
from nexq.platform import Package

PACKAGE = Package("billing", SCHEMA, SCOPES, admin.commands)
