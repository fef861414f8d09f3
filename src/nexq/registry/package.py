"""The Container Registry, as the platform sees it before anything is built."""

from nexq.core.identity import Scope
from nexq.platform import Package
from nexq.registry import admin
from nexq.registry.schema import SCHEMA

SCOPES = (
    Scope("registry:read", "List registries and pull images (docker pull with an API key)."),
    Scope(
        "registry:write", "Create and delete registries and credentials; push and delete images."
    ),
)
PACKAGE = Package("registry", SCHEMA, SCOPES, admin.commands)
