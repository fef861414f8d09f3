"""The compatibility document is generated from the routing table and kept in sync."""

from pathlib import Path

from nexq.storage.metering import BillingClass
from nexq.storage.s3.compat import render
from nexq.storage.s3.operations import BILLING, ROUTES, Access, Operation
from nexq.storage.s3.routes import HANDLERS

DOC = Path(__file__).parents[2] / "docs" / "s3-compatibility.md"


def test_document_matches_routing_table() -> None:
    assert DOC.read_text() == render(), "run `make compat-doc` and commit the result"


def test_every_operation_is_routed_and_handled() -> None:
    routed = {operation for operation, _ in ROUTES.values()}
    assert routed == set(Operation)
    assert set(HANDLERS) == set(Operation)


def test_every_read_is_billed_as_class_b() -> None:
    # SPEC.md "Usage": Class B = GET, HEAD (reads and metadata), GetObjectAttributes too.
    reads = {operation for operation, access in ROUTES.values() if access is Access.READ}
    assert Operation.GET_OBJECT_ATTRIBUTES in reads
    assert {operation: BILLING[operation] for operation in reads} == dict.fromkeys(
        reads, BillingClass.B
    )
