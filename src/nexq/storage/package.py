"""Object Storage, as the platform sees it before anything is built."""

from nexq.platform import Package
from nexq.storage import admin
from nexq.storage.descriptor import SCOPES
from nexq.storage.schema import SCHEMA

PACKAGE = Package("storage", SCHEMA, SCOPES, admin.commands)
