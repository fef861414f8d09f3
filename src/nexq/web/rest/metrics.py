"""``GET /metrics``: what Prometheus scrapes, for operators (an API key of an operator's
account with ``admin:read``, sent as Prometheus sends one: ``authorization.credentials``
in its scrape configuration). Not in the OpenAPI document: it is not JSON, and customers
have no use for it."""

# No `from __future__ import annotations`: FastAPI reads the route's signature at run time,
# and its dependency is a local of router().
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from nexq.core import telemetry
from nexq.core.identity import Principal
from nexq.core.telemetry import Census
from nexq.web.rest.security import Authorizer

SCOPE = "admin:read"


def router(auth: Authorizer, censuses: Sequence[Census]) -> APIRouter:
    api = APIRouter()
    operator = auth.require(SCOPE)

    @api.get("/metrics", include_in_schema=False)
    def metrics(caller: Annotated[Principal, Depends(operator)]) -> Response:
        body, content_type = telemetry.exposition(censuses)
        return Response(body, media_type=content_type)

    return api
