"""Databases as the platform sees it: its routes, pages, jobs, meters and limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexq.core.quotas import BYTES, COUNT, Limit
from nexq.core.telemetry import Reading
from nexq.databases.departure import departure
from nexq.databases.metering import DatabaseMeter, meters
from nexq.databases.plans import PlanCatalog
from nexq.databases.provisioner import Provisioner
from nexq.databases.service import (
    BACKUP_DAYS_LIMIT,
    DATABASES_LIMIT,
    MEMORY_LIMIT,
    REPLICAS_LIMIT,
    STORAGE_LIMIT,
    VCPUS_LIMIT,
    Databases,
)
from nexq.platform import Job, Service
from nexq.web.console.layout import NavLink, NavSection
from nexq.web.guide.section import GuidePage, GuideSection

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexq.web.console.web import Pages
    from nexq.web.rest.security import Authorizer

NAVIGATION = NavSection("Databases", (NavLink("Databases", "/databases"),))
# The user guide of Databases: src/nexq/databases/guide/<slug>.md, in reading order.
GUIDE = GuideSection(
    "Databases",
    "nexq.databases",
    (
        GuidePage("overview", "Databases overview"),
        GuidePage("create-database", "Create a database"),
        GuidePage("connect", "Connect to a database"),
        GuidePage("manage-database", "Manage a database"),
        GuidePage("manage-backups", "Manage backups"),
    ),
)
# How often the provisioner brings every database to its state: a new database is Running
# a second or two after this.
RECONCILE_SECONDS = 1.0
# How often the backups job looks for a backup due or asked for ("Back up now").
BACKUP_CHECK_SECONDS = 2.0


def descriptor(
    databases: Databases, provisioner: Provisioner, plans: PlanCatalog, meter: DatabaseMeter
) -> Service:
    """Databases' descriptor."""

    def rest(auth: Authorizer) -> list[APIRouter]:
        from nexq.databases import api

        return [api.router(databases, auth)]

    def console(pages: Pages) -> list[APIRouter]:
        from nexq.databases import console

        return [console.router(databases, pages)]

    return Service(
        name="databases",
        title="Databases",
        departure=departure(databases),
        rest=rest,
        console=console,
        built_on_first_request=("/v1/databases", "/databases"),
        templates="nexq.databases",
        navigation=NAVIGATION,
        guide=GUIDE,
        census=lambda: [
            Reading("nexq_databases", "Databases by status.", count, {"status": status})
            for status, count in databases.count_by_status().items()
        ],
        meters=meters(plans),
        meter_provider=meter,
        jobs=(
            # One process of the installation makes, starts and removes clusters; a lane of
            # its own, as making one takes seconds.
            Job(
                "databases-provisioner",
                RECONCILE_SECONDS,
                provisioner.reconcile,
                lane="databases",
                once=True,
            ),
            # Backups take seconds to minutes: a lane of their own, beside provisioning.
            Job(
                "databases-backups",
                BACKUP_CHECK_SECONDS,
                provisioner.take_backups,
                lane="database-backups",
                once=True,
            ),
        ),
        limits=(
            Limit(
                DATABASES_LIMIT,
                "Databases",
                COUNT,
                "Databases of the account",
                databases.databases_of,
            ),
            Limit(
                VCPUS_LIMIT,
                "Database vCPUs",
                COUNT,
                "vCPUs of all the account's database nodes",
                databases.usage_of(VCPUS_LIMIT),
            ),
            Limit(
                MEMORY_LIMIT,
                "Database memory",
                BYTES,
                "Memory of all the account's database nodes",
                databases.usage_of(MEMORY_LIMIT),
            ),
            Limit(
                STORAGE_LIMIT,
                "Database storage",
                BYTES,
                "Storage provisioned for all the account's database nodes",
                databases.usage_of(STORAGE_LIMIT),
            ),
            Limit(REPLICAS_LIMIT, "Replicas per database", COUNT, "Replicas of one database"),
            Limit(
                BACKUP_DAYS_LIMIT,
                "Backup retention (days)",
                COUNT,
                "Days a database can be restored back to (point-in-time recovery window)",
            ),
        ),
    )
