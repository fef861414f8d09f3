"""The compatibility document is generated from the routing table and kept in sync."""

from pathlib import Path

from nexq.storage.s3.compat import render
from nexq.storage.s3.operations import ROUTES, Operation
from nexq.storage.s3.routes import HANDLERS

DOC = Path(__file__).parents[2] / "docs" / "s3-compatibility.md"


def test_document_matches_routing_table() -> None:
    assert DOC.read_text() == render(), "run `make compat-doc` and commit the result"


def test_every_operation_is_routed_and_handled() -> None:
    routed = {operation for operation, _ in ROUTES.values()}
    assert routed == set(Operation)
    assert set(HANDLERS) == set(Operation)
