"""The Databases user guide (src/nexq/databases/guide/*.md, which Nexq serves at
/docs/databases/…) run as a reader runs it: every ```sh block, as written, in page order, in
one reader's shell against a live Nexq; then what its troubleshooting tables quote, provoked
for real.

The reader's shell has the variables the guide's overview asks for (DCP_API_URL and
DCP_API_KEY, an account with raised database limits), dcp, psql, curl and jq on its PATH,
and a Python with psycopg. When a block prints the owner's password (create, restore,
reset-password), the reader keeps it in PGPASSWORD as the guide says: so does the test. A
block marked ``<!-- not run: reason -->`` needs what no test has (the reader's own values,
PyPI); every other one runs.

The reader reads the pages in order but deletes the guide's database last: Manage backups,
after Manage a database, backs up and restores the database that page deletes."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nexq.core.errors import Invalid
from nexq.databases import tls
from nexq.databases.descriptor import GUIDE as DECLARED
from nexq.databases.model import check_name, count_refusal
from nexq.databases.provisioner import STORAGE_FULL
from tests import guide_runner as runner
from tests.compat.tools import base_env, require
from tests.guide_runner import Block, ReaderShell
from tests.live import BURST, LiveServer

GUIDE = Path(__file__).resolve().parents[2] / "src" / "nexq" / "databases" / "guide"
# The pages in reading order, as the descriptor declares them to the guide.
PAGES = tuple(f"{page.slug}.md" for page in DECLARED.pages)
DATABASE = "orders"
# What the reader sets once (overview.md), and so what the test sets for the reader.
VARIABLES = ("DCP_API_URL", "DCP_API_KEY")
# A block that makes the guide's database: it runs when there is none to make it again.
CREATES = re.compile(rf'databases create {DATABASE}(?![\w-])|"name": "{DATABASE}"')
# The database the section on high availability makes, shows and deletes.
HA_EXAMPLE = "orders-ha"
# A block that deletes the guide's database: it runs once every other block has.
DELETES = re.compile(rf"databases delete {DATABASE}(?![\w-])")
# The owner's password as dcp prints it, or as the API's JSON holds it.
PASSWORD = re.compile(r'^password:\s+(?P<plain>\S+)$|"password":\s*"(?P<json>[^"]+)"', re.M)
# What the guide shows a block prints: (a piece of the block, a line of its output). Each
# piece names at least one block; each line is in the guide and in each such block's output.
SHOWN = (
    # Either node may be the first primary: the one that won the race to make the cluster.
    ("dcp databases nodes orders-ha", "  primary                running  -"),
    ("dcp databases nodes orders-ha", "  replica (synchronous)  running"),
    ("dcp databases create orders --plan micro --wait", "status:   Provisioning"),
    ("dcp databases create orders --plan micro --wait", "user:     dbadmin"),
    ("dcp databases connect orders -- -c 'select current_user'", " dbadmin"),
    ("dcp databases plans", "micro   Micro   1      512 MiB  1 GiB"),
    ("dcp databases plans", "large   Large   4      8 GiB    100 GiB"),
    ("dcp databases list", "orders  Running  PostgreSQL 15  micro  no"),
    ('echo "$status"', "Running"),
    ("select current_database(), current_user", " orders           | dbadmin"),
    ("pg_stat_ssl", " t   | TLSv1.3"),
    ("python3 app.py", "Ada"),
    ("dcp databases show orders\ndcp databases nodes orders", "orders-1  primary  running  -"),
    ("dcp databases delete orders --yes", "Deleting database orders: it is gone within seconds"),
    ("dcp databases backups list orders", "LABEL             TYPE  TAKEN"),
    ("dcp databases backups list orders", "continuous        WAL"),
    ("dcp databases backups create orders --wait", "type:     FULL"),
    ("dcp databases restore orders orders-restored", "restored from: orders as it was at "),
    ("dcp databases restore orders orders-restored", "database: orders_restored"),
    ("dcp databases connect orders-restored", " name\n-------\n Grace\n(1 row)"),
    (
        "dcp databases delete orders-restored --yes",
        "Deleting database orders-restored: it is gone within seconds",
    ),
)
WINDOW = re.compile(r"^Recovery window: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ … \S+Z$", re.M)
SECONDS = 60.0
# The page that backs up and restores the guide's database: it starts once that database
# has its first full backup, as a reader's database has had for long by then.
BACKUPS_PAGE = "manage-backups.md"


def every_block() -> list[Block]:
    return runner.every_block(GUIDE, PAGES)


def reading_order() -> list[Block]:
    """The blocks that run, in the order the reader runs them: the pages' order, but the
    guide's database deleted last."""
    run = [b for b in every_block() if not b.not_run]
    return [b for b in run if not DELETES.search(b.code)] + [
        b for b in run if DELETES.search(b.code)
    ]


def text_of(pages: tuple[str, ...] = PAGES) -> str:
    return "\n".join((GUIDE / page).read_text() for page in pages)


def lines_of(output: str) -> str:
    """Output as the guide shows it: psql pads its columns with spaces the pages drop."""
    return "\n".join(line.rstrip() for line in output.splitlines())


def test_the_guide_has_its_pages_and_says_why_a_block_is_not_run() -> None:
    runner.check_pages(GUIDE, PAGES)


def test_the_guide_asks_for_the_variables_the_test_sets() -> None:
    """The variables a reader sets once are the test's, and a block uses no other but
    those a block of the guide sets: no command depends on something left unsaid."""
    settings = [b for b in every_block() if b.not_run and "export DCP_API_URL=" in b.code]
    assert len(settings) == 1 and settings[0].page == PAGES[0], settings
    assert runner.variables_set(settings[0]) == set(VARIABLES)
    assigned = runner.check_every_variable_is_set(every_block())
    assert "PGPASSWORD" in assigned  # the password shown once, kept as the guide says


def test_every_link_reaches_a_page_and_its_anchor() -> None:
    runner.check_section("databases", DECLARED, "Databases")


def test_the_guide_quotes_what_nexq_says() -> None:
    """The reasons and refusals the pages quote are the service's own words."""
    text = " ".join(text_of().split())
    assert STORAGE_FULL in text
    assert count_refusal(1) in text
    for reserved in ("postgres", "template0", "template1", "new", "plans"):
        with pytest.raises(Invalid) as refused:
            check_name(reserved)
        assert refused.value.message == f"name {reserved!r} is reserved; choose another."
        assert f"`{reserved}`" in text
    assert "name 'postgres' is reserved; choose another." in text
    with pytest.raises(Invalid) as refused:
        check_name("Orders_1")
    assert refused.value.message in text


class Reader(ReaderShell):
    """The reader's shell (its environment and working directory) and their account."""

    def __init__(self, server: LiveServer, root: Path) -> None:
        self.server, self.root = server, root
        self.email = server.account(f"guide-reader-{id(self)}@example.com")
        server.raise_limits(
            self.email,
            api_rps=BURST,  # dcp and curl, block after block
            databases=5,
            database_vcpus=10,
            database_memory_bytes="unlimited",
            database_storage_bytes="unlimited",
            database_replicas=1,
        )
        self.api_key = server.api_key(self.email, "the reader's key")
        super().__init__(base_env(root), root / "work", root / "env", timeout=SECONDS)
        self.work.mkdir(parents=True)
        # dcp and a Python with psycopg, as `pip install 'psycopg[binary]'` gives the reader
        self.use_dcp(
            server.api_url, DCP_API_KEY=self.api_key, DCP_CONFIG=str(root / "dcp" / "config.json")
        )

    def sh(self, script: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``script`` in the reader's shell; the variables it exports stay set, and a
        password it prints is kept in PGPASSWORD, as the reader keeps it."""
        proc = super().sh(script, cwd)
        if proc.returncode == 0:
            shown = PASSWORD.search(proc.stdout)
            # The high availability example's database is made, looked at and deleted: the
            # reader keeps the password of the guide's database.
            if shown and f"create {HA_EXAMPLE} " not in script:
                self.env["PGPASSWORD"] = shown["plain"] or shown["json"]
        return proc

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.Client(base_url=f"{self.server.api_url}/v1", headers=headers, timeout=30)

    def status(self, name: str = DATABASE) -> str | None:
        with self.api() as api:
            found = api.get(f"/databases/{name}")
        if found.status_code == 404:
            return None
        assert found.status_code == 200, found.text
        return str(found.json()["status"])

    def wait_for(self, status: str | None, name: str = DATABASE) -> None:
        """Poll until the database is in ``status`` (None: gone)."""
        deadline = time.monotonic() + SECONDS
        while (now := self.status(name)) != status:
            assert now != "Error", f"{name} is in Error"
            assert time.monotonic() < deadline, f"{name} is {now}, not {status}"
            time.sleep(0.2)

    def wait_for_backup(self, name: str = DATABASE) -> None:
        """Poll until the database has its first full backup: its recovery window opens.
        Backups are taken one at a time, each slower on a loaded machine: twice as long."""
        deadline = time.monotonic() + 2 * SECONDS
        while True:
            with self.api() as api:
                found = api.get(f"/databases/{name}/backups")
            assert found.status_code == 200, found.text
            if found.json()["recovery_window"]["oldest"] is not None:
                return
            assert time.monotonic() < deadline, f"{name} has no full backup after {2 * SECONDS} s"
            time.sleep(0.5)

    def without_database(self, name: str = DATABASE) -> None:
        """No database ``name``: deleted (once Running, so that no provisioning is under
        way) and gone."""
        status = self.status(name)
        if status is None:
            return
        if status in ("Provisioning", "Pending"):
            self.wait_for("Running", name)
        with self.api() as api:
            api.delete(f"/databases/{name}")
        self.wait_for(None, name)

    def close(self) -> None:
        with self.api() as api:
            left = [d["name"] for d in api.get("/databases").json()]
        for name in left:
            self.without_database(name)


@pytest.fixture(scope="module")
def reader(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    for tool in ("psql", "curl", "jq"):
        require(tool)
    reader = Reader(server, tmp_path_factory.mktemp("reader"))
    try:
        yield reader
    finally:
        reader.close()


def test_every_sh_block_of_the_guide_runs_as_written(reader: Reader) -> None:
    ran: list[Block] = []
    outputs: dict[Block, str] = {}
    for block in reading_order():
        if CREATES.search(block.code):
            reader.without_database()
        if block.page == BACKUPS_PAGE and not any(b.page == BACKUPS_PAGE for b in ran):
            reader.wait_for_backup()
        proc = reader.sh(block.code)
        if proc.returncode != 0:
            runner.failed(block, proc)
        outputs[block] = lines_of(proc.stdout + proc.stderr)
        ran.append(block)

    assert ran == reading_order()
    assert [b for b in ran if DELETES.search(b.code)] == [ran[-1]]
    shown = text_of()
    for piece, line in SHOWN:
        assert line in shown, f"the guide does not show {line!r}"
        showing = [b for b in ran if piece in b.code]
        assert showing, f"no block runs {piece!r}"
        for block in showing:
            assert line in outputs[block], f"{block} printed no {line!r}:\n{outputs[block]}"
    # The window the list ends with: two times, as `dcp databases restore --to` takes them.
    (listed,) = [b for b in ran if b.code == "dcp databases backups list orders"]
    assert WINDOW.search(outputs[listed]), outputs[listed]
    assert WINDOW.search(shown)
    # The guide ends by deleting its database and its restored copies: none is left.
    reader.wait_for(None)
    for copy in ("orders-restored", "orders-latest"):
        reader.wait_for(None, copy)
    with reader.api() as api:
        assert api.get("/databases").json() == []


# What the troubleshooting tables quote, and a command that makes a client say it. "…" in
# a quote stands for what differs from one reader to another; so do the names given.
TROUBLE = (
    (
        "connect.md",
        'FATAL:  password authentication failed for user "dbadmin"',
        "PGPASSWORD=not-the-password psql \"$DATABASE_URL\" -c 'select 1'",
    ),
    (
        "connect.md",
        "fe_sendauth: no password supplied",
        "env -u PGPASSWORD psql \"$DATABASE_URL\" -c 'select 1'",
    ),
    (
        "connect.md",
        'FATAL:  no pg_hba.conf entry for host "…", user "dbadmin", database "orders", '
        "no encryption",
        "psql \"${DATABASE_URL/sslmode=verify-full/sslmode=disable}\" -c 'select 1'",
    ),
    (
        "connect.md",
        'root certificate file "nexq-databases-ca.pem" does not exist',
        "cd .. && psql \"$DATABASE_URL\" -c 'select 1'",
    ),
    (
        "connect.md",
        'root certificate file "/home/you/.postgresql/root.crt" does not exist',
        "psql \"${DATABASE_URL/&sslrootcert=nexq-databases-ca.pem/}\" -c 'select 1'",
    ),
    (
        "connect.md",
        "SSL error: certificate verify failed",
        "psql \"${DATABASE_URL/nexq-databases-ca.pem/another-ca.pem}\" -c 'select 1'",
    ),
    (
        "connect.md",
        'server certificate for "db.example.com" (and 2 other names) does not match host '
        'name "10.0.0.5"',
        'psql "host=db.example.com hostaddr=127.0.0.1 port=$PORT dbname=orders user=dbadmin '
        "sslmode=verify-full sslrootcert=nexq-databases-ca.pem\" -c 'select 1'",
    ),
    (
        "connect.md",
        "permission denied to create role",
        "psql \"$DATABASE_URL\" -c 'CREATE ROLE app LOGIN'",
    ),
    (
        "connect.md",
        "role name …: 1 to 63 lowercase letters, digits and _…",
        "psql \"$DATABASE_URL\" -c \"SELECT nexq.create_role('Bad', 'x')\"",
    ),
    (
        "connect.md",
        "role … was not made with nexq.create_role",
        'psql "$DATABASE_URL" -c "SELECT nexq.drop_role(\'postgres\')"',
    ),
    (
        "connect.md",
        "must be superuser or have privileges of the pg_read_server_files role to COPY from a file",
        "psql \"$DATABASE_URL\" -c 'CREATE TEMP TABLE lines (line text)' "
        "-c \"COPY lines FROM '/etc/hostname'\"",
    ),
    (
        "connect.md",
        "must be superuser or have privileges of the pg_execute_server_program role to "
        "COPY to or from an external program",
        'psql "$DATABASE_URL" -c "COPY (SELECT 1) TO PROGRAM \'id\'"',
    ),
    (
        "connect.md",
        'permission denied to create extension "postgres_fdw"',
        "psql \"$DATABASE_URL\" -c 'CREATE EXTENSION postgres_fdw'",
    ),
    (
        "connect.md",
        "HINT:  Must be superuser to create this extension.",
        "psql \"$DATABASE_URL\" -c 'CREATE EXTENSION dblink'",
    ),
    (
        "connect.md",
        'syntax error at or near "user"',
        'psql "$DATABASE_URL" -c "ALTER DATABASE user SET work_mem = \'8MB\'"',
    ),
    (
        "create-database.md",
        "name: the account has a database named 'orders'.",
        "dcp databases create orders --plan micro",
    ),
    (
        "create-database.md",
        "name 'postgres' is reserved; choose another.",
        "dcp databases create postgres --plan micro",
    ),
    (
        "create-database.md",
        "name: String should have at least 3 characters",
        "dcp databases create ab --plan micro",
    ),
    (
        "create-database.md",
        "plan: 'huge' is not a database plan; choose from micro, small, medium, large.",
        "dcp databases create big-one --plan huge",
    ),
    (
        "create-database.md",
        "replicas: the account's tier allows 0 replicas per database.",
        'DCP_API_KEY="$FREE_KEY" dcp databases create ha-one --plan micro --replicas 1',
    ),
    (
        "create-database.md",
        "plan: medium needs 2 vCPUs; the account's databases hold 0 of its limit of 1. "
        "Choose a smaller plan, delete a database or ask for a higher tier.",
        'DCP_API_KEY="$FREE_KEY" dcp databases create big-one --plan medium',
    ),
    (
        "create-database.md",
        "This action needs the scope 'databases:write', which the API key lacks.",
        'DCP_API_KEY="$READ_KEY" dcp databases create read-one --plan micro',
    ),
    (
        "manage-database.md",
        "The account has no database named 'order'.",
        "dcp databases show order",
    ),
    (
        "manage-database.md",
        "not deleted: 'order' is not 'orders'",
        "echo order | dcp databases delete orders",
    ),
    (
        BACKUPS_PAGE,
        "restore.source: 'ledger' has no backups (automated backups are off).",
        "dcp databases create ledger --plan micro --no-backups > /dev/null\n"
        "dcp databases restore ledger ledger-copy --plan micro",
    ),
    (BACKUPS_PAGE, "'ledger' has automated backups off.", "dcp databases backups create ledger"),
    (
        BACKUPS_PAGE,
        "--to '2027-01-31T12:00:00' has no time zone: give one, e.g. 2027-01-31T12:00:00Z (UTC) "
        "or 2027-01-31T13:00:00+01:00",
        "dcp databases restore orders orders-copy --plan micro --to 2027-01-31T12:00:00",
    ),
    (
        BACKUPS_PAGE,
        "restore.target_time: give a time zone (e.g. 2027-01-31T12:00:00Z).",
        'curl --fail-with-body -sS -X POST "$DCP_API_URL/v1/databases" '
        '-H "Authorization: Bearer $DCP_API_KEY" -H "Content-Type: application/json" '
        """-d '{"name": "orders-copy", "plan": "micro", """
        """"restore": {"source": "orders", "target_time": "2027-01-31T12:00:00"}}'""",
    ),
    (
        BACKUPS_PAGE,
        "--to 'yesterday' is not a time: give ISO 8601 with a zone, e.g. 2027-01-31T12:00:00Z",
        "dcp databases restore orders orders-copy --plan micro --to yesterday",
    ),
    (
        BACKUPS_PAGE,
        "The account has no database named 'order'.",
        "dcp databases restore order orders-copy --plan micro",
    ),
)
# Quoted of a database that is being made, before its first full backup: it has none until
# it runs, and the first is taken seconds after that.
BEFORE_FIRST_BACKUP = (
    (
        BACKUPS_PAGE,
        "restore.source: 'orders' has no backup yet; its first is on its way.",
        "dcp databases restore orders orders-copy --plan micro",
    ),
)
# Quoted of a database with a recovery window: once its first full backup is taken.
WITH_WINDOW = (
    (
        BACKUPS_PAGE,
        "restore.target_time: 2020-01-31T12:00:00Z is outside the recovery window of 'orders', "
        "… to now.",
        "dcp databases restore orders orders-copy --plan micro --to 2020-01-31T12:00:00Z",
    ),
)


def said(quote: str) -> re.Pattern[str]:
    """What a client says for ``quote``: its "…" and the example values the guide gives
    (a home folder, a host, an address, a number of names) stand for anything."""
    pattern = re.escape(quote).replace("…", ".+?")
    for example in ("/home/you", "db\\.example\\.com", "10\\.0\\.0\\.5"):
        pattern = pattern.replace(example, '[^"]+')
    return re.compile(pattern.replace("2\\ other\\ names", "\\d+\\ other\\ names?"))


def provoke(reader: Reader, page: str, quote: str, command: str, refused: bool = True) -> None:
    """``command`` says what ``page`` quotes, and fails (unless not ``refused``)."""
    assert quote in (GUIDE / page).read_text(), f"{page} does not quote {quote!r}"
    proc = reader.sh(command)
    assert (proc.returncode != 0) == refused, f"{command} exited with {proc.returncode}"
    assert said(quote).search(proc.stderr + proc.stdout), (
        f"{command} did not say {quote!r}:\n{proc.stderr}{proc.stdout}"
    )


def test_the_troubleshooting_quotes_what_clients_say(reader: Reader, server: LiveServer) -> None:
    """Each refusal a table quotes, made to happen: the message is what psql, dcp or the API
    (through curl) says."""
    free = server.account("guide-free@example.com")  # the Free tier's limits, as shipped
    reader.env["FREE_KEY"] = server.api_key(free)
    reader.env["READ_KEY"] = server.api_key(reader.email, "read only", ("databases:read",))
    reader.without_database()
    made = reader.sh("dcp databases create orders --plan micro")
    assert made.returncode == 0, made.stderr
    for page, quote, command in BEFORE_FIRST_BACKUP:
        provoke(reader, page, quote, command)
    provoke(
        reader,
        BACKUPS_PAGE,
        "Recovery window: none yet (the first full backup is on its way)",
        "dcp databases backups list orders",
        refused=False,
    )
    reader.wait_for("Running")
    ready = reader.sh(
        "dcp databases ca -f nexq-databases-ca.pem\n"
        "export DATABASE_URL=$(dcp -o json databases show orders | jq -r .connection.uri)\n"
        "export PORT=$(dcp -o json databases show orders | jq -r .connection.port)"
    )
    assert ready.returncode == 0, ready.stderr
    (reader.work / "another-ca.pem").write_text(tls.new_authority("another").certificate_pem)
    for page, quote, command in TROUBLE:
        provoke(reader, page, quote, command)
    provoke(
        reader,
        BACKUPS_PAGE,
        "Recovery window: none (automated backups are off)",
        "dcp databases backups list ledger",
        refused=False,
    )
    reader.wait_for_backup()
    for page, quote, command in WITH_WINDOW:
        provoke(reader, page, quote, command)
    reader.without_database("ledger")
    reader.without_database()
