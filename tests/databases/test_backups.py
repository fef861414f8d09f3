"""Backups with pgBackRest into Nexq's own Object Storage, and point-in-time restore into a
new database: what was committed before the target is there, what came after is not, and
the source is untouched."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.databases.live_databases import (
    account_api,
    connect,
    create,
    database_id,
    delete,
    fresh,
    wait_for,
    wait_status,
)
from tests.live import LiveServer


def backups_of(api: httpx.Client, name: str) -> dict[str, object]:
    answer = api.get(f"/v1/databases/{name}/backups")
    assert answer.status_code == 200, answer.text
    found: dict[str, object] = answer.json()
    return found


def full_backups(api: httpx.Client, name: str) -> list[dict[str, object]]:
    return [b for b in backups_of(api, name)["backups"] if b["type"] == "FULL"]  # type: ignore[union-attr, index]


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def test_point_in_time_restore_into_a_new_database(api: httpx.Client, ca: Path) -> None:
    source, password = create(api)
    name = source["name"]
    # The first full backup is taken once the database runs: the window starts there.
    first = wait_for(lambda: full_backups(api, name), 120, "the first full backup")
    assert first[0]["size"] > 0 and first[0]["label"].endswith("F")  # type: ignore[union-attr]
    # The window opens the second after the backup stopped: the writes below come later.
    oldest = datetime.fromisoformat(backups_of(api, name)["recovery_window"]["oldest"])  # type: ignore[index]
    taken = datetime.fromisoformat(first[0]["taken_at"])  # type: ignore[arg-type]
    assert (oldest - taken).total_seconds() == 1
    wait_for(lambda: time.time() > oldest.timestamp(), 5, "the recovery window open")
    with connect(source, password, ca) as session:
        session.execute("CREATE TABLE orders (id int, item text)")
        session.execute("CREATE TABLE audit (note text)")
        session.execute("INSERT INTO orders VALUES (1, 'before'), (2, 'before')")
        (target,) = session.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()  # type: ignore[misc]
    time.sleep(1.1)  # the restore target is a second: what follows is a second later
    with connect(source, password, ca) as session:
        session.execute("INSERT INTO orders VALUES (3, 'after')")
        session.execute("DROP TABLE audit")
    window = backups_of(api, name)["recovery_window"]
    assert window["oldest"] is not None  # type: ignore[index]

    restored_name = fresh("restored")
    made = api.post(
        "/v1/databases",
        json={
            "name": restored_name,
            "plan": "micro",
            "restore": {"source": name, "target_time": _iso(float(target) + 0.5)},
        },
    )
    assert made.status_code == 201, made.text
    new_password = made.json()["password"]
    assert new_password != password
    restored = wait_status(api, restored_name, "Running", seconds=120)
    assert restored["restored_from"]["source"] == name
    assert restored["restored_from"]["target_time"] is not None
    with connect(restored, new_password, ca) as session:
        rows = session.execute("SELECT id, item FROM orders ORDER BY id").fetchall()
        assert rows == [(1, "before"), (2, "before")]
        assert session.execute("SELECT to_regclass('audit') IS NOT NULL").fetchone() == (True,)
        assert session.execute("SELECT current_database()").fetchone() == (
            restored["connection"]["database"],
        )
        session.execute("INSERT INTO orders VALUES (4, 'restored copy')")  # writable: promoted
    # The source is untouched, and its password is not the copy's.
    with connect(source, password, ca) as session:
        assert session.execute("SELECT count(*) FROM orders").fetchone() == (3,)
        assert session.execute("SELECT to_regclass('audit')").fetchone() == (None,)

    # Back up now: a second full backup appears.
    asked = api.post(f"/v1/databases/{name}/backups")
    assert asked.status_code == 202, asked.text
    wait_for(lambda: len(full_backups(api, name)) >= 2, 120, "the second full backup")
    delete(api, restored_name)
    delete(api, name)


def test_restoring_is_refused_outside_the_window_or_without_backups(
    api: httpx.Client,
) -> None:
    plain, _ = create(api, backups=False)
    refused = api.post(
        "/v1/databases",
        json={"name": fresh(), "plan": "micro", "restore": {"source": plain["name"]}},
    )
    assert refused.status_code == 400 and "no backups" in refused.json()["detail"]
    assert backups_of(api, plain["name"])["backups"] == []
    assert api.post(f"/v1/databases/{plain['name']}/backups").status_code == 400
    unknown = api.post(
        "/v1/databases",
        json={"name": fresh(), "plan": "micro", "restore": {"source": "no-such-db"}},
    )
    assert unknown.status_code == 404
    source, _ = create(api)
    wait_for(lambda: full_backups(api, source["name"]), 120, "the first full backup")
    too_old = api.post(
        "/v1/databases",
        json={
            "name": fresh(),
            "plan": "micro",
            "restore": {"source": source["name"], "target_time": "2020-01-01T00:00:00Z"},
        },
    )
    assert too_old.status_code == 400 and "recovery window" in too_old.json()["detail"]
    delete(api, source["name"])
    delete(api, plain["name"])


def test_backups_are_kept_as_long_as_the_accounts_tier_says(server: LiveServer) -> None:
    api = account_api(server)
    email = api.get("/v1/account").json()["email"]
    server.raise_limits(email, database_backup_days=3)
    database, _ = create(api)
    db_id = database_id(server, database["name"])
    assert server.databases_dir is not None
    config = server.databases_dir / db_id / "pgbackrest" / "pgbackrest.conf"
    assert "repo1-retention-full=3\n" in config.read_text()
    assert "repo1-retention-full-type=time\n" in config.read_text()
    delete(api, database["name"])


def test_a_database_deleted_while_its_backup_runs_goes_with_its_backups(
    server: LiveServer, api: httpx.Client
) -> None:
    """pgBackRest holds a lock while it backs up, and refuses to delete the repository of a
    backup it is taking: the deletion waits for the backup, then removes everything."""
    database, _ = create(api)
    db_id = database_id(server, database["name"])
    assert server.databases_dir is not None
    lock = server.databases_dir / db_id / "pgbackrest" / "lock" / f"{db_id}-backup.lock"
    log = server.data_dir.parent / f"server-{server.s3_port}.log"
    logged = log.stat().st_size
    # The first full backup starts once the database runs: delete it while that backup runs.
    wait_for(lambda: lock.exists(), 60, "the first backup running")
    delete(api, database["name"])
    assert not (server.databases_dir / db_id).exists()
    with log.open("rb") as f:
        f.seek(logged)
        since = f.read().decode(errors="replace")
    assert "were not deleted" not in since and "Traceback" not in since, since[-3000:]
    kept = server.sql("SELECT count(*) FROM objects WHERE key LIKE ?", f"{db_id}/%")
    assert kept == [(0,)], kept
