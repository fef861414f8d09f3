"""``nexq``: run the server and administer an installation (JSON on stdout for scripts)."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from nexq.adminkit import DataDir, emit, fail, mount
from nexq.app import (
    ADMIN_COMMANDS,
    Nexq,
    build,
    recover,
    services,
    start_jobs,
)
from nexq.cli.installation_backup import backup
from nexq.cli.installation_restore import restore
from nexq.cli.master_key import master_key_cli
from nexq.cli.migrate import migrate
from nexq.cli.move import InUse, move, moved
from nexq.cli.status import status as admin_status
from nexq.cli.status import version as nexq_version
from nexq.core import malloc, sql, telemetry
from nexq.core.db import SchemaMismatch
from nexq.core.errors import DomainError
from nexq.core.job_log import JobLog
from nexq.core.keyring import KeyringError
from nexq.core.ratelimit import RateLimiter
from nexq.core.run_dir import RunDir, WorkerFile
from nexq.planes import api_app, registry_app, s3_app
from nexq.settings import Settings, SettingsError
from nexq.storage.fsck import check as check_storage

# Markdown, not Rich markup: help texts say "[env NEXQ_…]", which Rich would eat as a tag.
cli = typer.Typer(
    help="Nexq: a self-hosted cloud platform.", no_args_is_help=True, rich_markup_mode="markdown"
)
admin = typer.Typer(help="Operator commands (work while the server runs).", no_args_is_help=True)
cli.add_typer(admin, name="admin")


@contextlib.contextmanager
def _installation(data_dir: Path | None) -> Iterator[Nexq]:
    """The installation's services; a domain error ends the command with its message."""
    try:
        nexq = build(Settings.from_env(data_dir=data_dir))
    except (SchemaMismatch, KeyringError) as exc:  # a database of another version, no key
        fail(str(exc))
    try:
        yield nexq
    except DomainError as exc:
        fail(exc.message)
    finally:
        nexq.close()


# Each service's groups and commands (`nexq admin account …`, `nexq admin fsck`), then the
# kernel's.
for _commands in ADMIN_COMMANDS:
    mount(admin, _commands(_installation))
admin.add_typer(master_key_cli, name="master-key")


@admin.command("fsck")
def fsck(
    data_dir: DataDir = None,
    repair: Annotated[
        bool,
        typer.Option(
            help="Remove orphan blob files older than five minutes; recount wrong counters."
        ),
    ] = False,
) -> None:
    """Check that every object's blobs exist with the right size, that bucket and account
    counters (objects, stored bytes) match the objects, and that every registry layer and
    manifest is stored whole ("registry"); exit 1 if not."""
    with _installation(data_dir) as nexq:
        report = check_storage(nexq.store, nexq.blobs, repair=repair)
        registry = nexq.registry_content.check(repair=repair)
    emit(
        {
            "clean": report.clean and registry.clean,
            "blobs_referenced": report.objects_blobs,
            "missing": report.missing,
            "wrong_size": report.wrong_size,
            "orphans": report.orphans,
            "temporaries": report.temporaries,
            "removed": report.removed,
            "counters": report.counters,
            "recounted": report.recounted,
            "registry": registry.as_json(),
        }
    )
    # Repair removes orphans and recounts; missing or damaged data needs the operator.
    repaired = repair and not (report.missing or report.wrong_size) and registry.clean
    if not (report.clean and registry.clean) and not repaired:
        raise typer.Exit(1)


admin.command("migrate")(migrate)
admin.command("move")(move)
admin.command("backup")(backup)
admin.command("restore")(restore)
admin.command("status")(admin_status)


@cli.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Listen address [env NEXQ_HOST].")] = None,
    s3_port: Annotated[int | None, typer.Option(help="S3 port [env NEXQ_S3_PORT].")] = None,
    api_port: Annotated[int | None, typer.Option(help="API port [env NEXQ_API_PORT].")] = None,
    registry_port: Annotated[
        int | None, typer.Option(help="Container registry port [env NEXQ_REGISTRY_PORT].")
    ] = None,
    registry_domain: Annotated[
        str | None,
        typer.Option(
            help="The registry's host name in image names, if not host:port "
            "[env NEXQ_REGISTRY_DOMAIN]."
        ),
    ] = None,
    region: Annotated[str | None, typer.Option(help="Region name [env NEXQ_REGION].")] = None,
    s3_domain: Annotated[
        str | None, typer.Option(help="Domain for virtual-hosted buckets [env NEXQ_S3_DOMAIN].")
    ] = None,
    s3_website_domain: Annotated[
        str | None,
        typer.Option(
            help="Domain of buckets' static websites, <bucket>.<domain> "
            "[env NEXQ_S3_WEBSITE_DOMAIN]."
        ),
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    self_signed: Annotated[
        bool, typer.Option(help="Serve HTTPS with a generated self-signed certificate.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes; 0 = one per core [env NEXQ_WORKERS].")
    ] = None,
    s3_url: Annotated[
        str | None,
        typer.Option(help="The S3 URL clients use, if not host:port [env NEXQ_S3_URL]."),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The console/API URL users reach (behind a proxy); https:// makes cookies "
            "Secure [env NEXQ_PUBLIC_URL]."
        ),
    ] = None,
    trusted_proxies: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated IPs/CIDRs of proxies whose X-Forwarded-For/-Proto are "
            "believed [env NEXQ_TRUSTED_PROXIES]."
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="Metadata in PostgreSQL: postgresql://… (default: SQLite in the data dir) "
            "[env NEXQ_DATABASE_URL].",
        ),
    ] = None,
    blobs: Annotated[
        str | None,
        typer.Option(
            "--blobs",
            help="Object bytes in Ceph: rados://POOL?conf=…&id=… (default: files in the data "
            "dir) [env NEXQ_BLOBS_URL].",
        ),
    ] = None,
    nodes: Annotated[
        int | None,
        typer.Option(
            help="Nodes behind the load balancer; each enforces its share of request rates "
            "[env NEXQ_NODES]."
        ),
    ] = None,
) -> None:
    """Start the S3 endpoint and the control plane on embedded defaults."""
    malloc.bound_arenas()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env(
        data_dir=data_dir,
        host=host,
        s3_port=s3_port,
        api_port=api_port,
        registry_port=registry_port,
        registry_domain=registry_domain,
        region=region,
        s3_domain=s3_domain,
        s3_website_domain=s3_website_domain,
        tls_cert=tls_cert,
        tls_key=tls_key,
        workers=workers,
        s3_url=s3_url,
        public_url=public_url,
        trusted_proxies=trusted_proxies,
        database_url=database,
        blobs_url=blobs,
        nodes=nodes,
    )
    logging.getLogger().setLevel(settings.log_level.upper())
    if self_signed and settings.tls_cert is None:
        from nexq.cli.tls import self_signed as make_certificate

        cert, key = make_certificate(settings.data_dir / "tls", settings.host)
        settings = replace(settings, tls_cert=cert, tls_key=key)
    # An embedded installation (SQLite) is served by one server at a time, and never while
    # `nexq admin move` copies it: this process holds the data dir's lease until it ends.
    in_use: InUse | None = None
    if not settings.database_url:
        if reason := moved(settings.data_dir):
            fail(reason)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        in_use = InUse(settings.data_dir)
        _hold(in_use, settings)
    try:
        nexq = build(settings)
    except DomainError as exc:  # e.g. a mistake in the operator's tiers.toml
        fail(exc.message)
    except sql.postgresql_errors(SchemaMismatch, KeyringError, OSError) as exc:
        # A database of another version, a missing key, an engine that cannot be reached.
        fail(str(exc))
    removed = recover(nexq)
    if removed:
        logging.getLogger("nexq").info("start-up recovery removed %d leftover files", removed)
    _first_start(nexq)
    backup_tls = _backup_certificate(nexq)
    nexq.close()
    if in_use is not None:
        # Closing the database closed a descriptor of the leases file, which dropped every
        # record lock this process held on it: taken again (unless a move took it meanwhile).
        _hold(in_use, settings)
    several = settings.workers > 1
    sockets = [
        _listen(settings.host, settings.s3_port, reuse_port=several),
        _listen(settings.host, settings.api_port),
        _listen(settings.host, settings.registry_port, reuse_port=several),
        # Databases' backups: Nexq's S3 on loopback, over TLS (pgBackRest speaks HTTPS only).
        _listen("127.0.0.1", settings.databases_backup_port),
    ]
    scheme = "https" if settings.tls_cert else "http"
    typer.echo(f"Nexq S3 endpoint:  {scheme}://{settings.host}:{sockets[0].getsockname()[1]}")
    typer.echo(f"Nexq control plane: {scheme}://{settings.host}:{sockets[1].getsockname()[1]}")
    typer.echo(f"Nexq registry:      {scheme}://{settings.host}:{sockets[2].getsockname()[1]}")
    typer.echo(f"Region: {settings.region}   data: {settings.data_dir.resolve()}")
    sys.stdout.flush()
    # What `nexq admin status` reads of this server, gone when it ends (a killed server's file
    # names a process that is gone: ignored, and removed at the next start).
    run_dir = RunDir(settings.data_dir / "run")
    names = ("s3", "api", "registry", "databases_backup")
    ports = {name: sock.getsockname()[1] for name, sock in zip(names, sockets, strict=True)}
    run_dir.publish_server(nexq_version(), {"scheme": scheme, "host": settings.host, **ports})
    atexit.register(run_dir.forget_server)  # forked workers leave by os._exit: never theirs
    # Made before forking, so that every worker draws from the same buckets.
    rates = RateLimiter(share=settings.nodes)
    if settings.metrics:  # named before forking: every worker counts into it
        counts = telemetry.folder_for(settings.data_dir)
        telemetry.prepare(counts)
        atexit.register(shutil.rmtree, counts, True)  # this process's alone: workers _exit
    if settings.workers <= 1:
        _run_worker(settings, sockets, rates, backup_tls, control_plane=True)
        _stop_databases(settings)
        return
    # S3 and registry traffic, on sockets of each worker's own: the kernel spreads new
    # connections over them. Shared, the worker that woke first took every connection of a
    # burst (libuv accepts all that are pending): 16 clients that connected at once were all
    # served by one worker in most runs, the other idle. (The control plane has one worker;
    # the backups' port carries a database's few connections.)
    spread = {
        at: [sockets[at]]
        + [
            _listen(settings.host, sockets[at].getsockname()[1], reuse_port=True)
            for _ in range(settings.workers - 1)
        ]
        for at in (0, 2)  # S3's and the registry's
    }
    children: list[int] = []
    stopping = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    # Installed before forking, and before the imports of _share_with_workers: a Ctrl-C that
    # arrives while workers start still stops them all. (Installed after those imports, a
    # Ctrl-C sent at once after start-up left both workers serving in two runs of the whole
    # suite, tests/compat/test_workers.py; which step lost it was not proven.)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    _share_with_workers()
    parent = os.getpid()
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    sys.stdout.flush()
    sys.stderr.flush()
    for index in range(settings.workers):
        if stopping.is_set():
            break
        # Blocked across fork: a stop signal must neither reach a child that still runs the
        # parent's handler nor slip past the parent before it knows the new child.
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
            # A worker dies with its parent, as abruptly: a killed server leaves no orphans
            # holding the ports (acknowledged writes are durable either way).
            _die_with_parent(parent)
            own = list(sockets)
            for at, each in spread.items():
                own[at] = each[index]
                for other in each[index + 1 :]:  # the earlier ones the parent had closed
                    other.close()
            try:
                _run_worker(settings, own, rates, backup_tls, control_plane=index == 0)
            except BaseException:
                # A worker never runs on into the parent's code (its loop, its clean-up):
                # it says why it stopped and ends here.
                traceback.print_exc()
                sys.stderr.flush()
                os._exit(1)
            os._exit(0)
        # Held by its worker alone: if the worker dies, the kernel stops sending it
        # connections.
        for each in spread.values():
            each[index].close()
        children.append(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
        if stopping.is_set():  # a stop handled before this child was in the list
            forward(signal.SIGTERM, None)
    failed = False
    for at, child in enumerate(children):
        _, status = os.waitpid(child, 0)
        if at == 0 and not stopping.is_set():
            # The control plane's worker ended on its own (a start that failed, a crash):
            # the API port, which the parent holds too, would take connections that nobody
            # answers. The server stops, so that its supervisor starts it again.
            print(
                f"nexq: the control plane's worker stopped (status {status}); stopping",
                file=sys.stderr,
            )
            failed = True
            forward(signal.SIGTERM, None)
    _stop_databases(settings)
    if failed:
        raise typer.Exit(1)


def _share_with_workers() -> None:
    """Load what every worker serves with, then freeze the parent's objects, just before
    forking: the workers then share those pages with the parent (copy-on-write) instead of
    each holding a copy of its own.

    Frozen, the objects are out of the collector's sight: a worker's full collection would
    otherwise write to every one of them (its bookkeeping is in each object's header) and so
    copy every page the parent holds. The control plane stays out: one worker serves it.
    """
    import nexq.cli.listeners  # uvicorn, uvloop, asyncio: about 6 MiB
    import nexq.registry.oci.app
    import nexq.storage.s3.server  # S3's handlers, XML, multipart forms: about 3 MiB
    import nexq.web.observe  # noqa: F401

    gc.collect()  # garbage frozen would never be freed
    gc.freeze()


def _stop_databases(settings: Settings) -> None:
    """Stop the databases of this host with Nexq, if the operator says so (by default they
    keep running: their clients never notice Nexq restart)."""
    if settings.databases_on_stop != "stop":
        return
    nexq = build(settings)
    try:
        stopped = nexq.database_provisioner.stop_all()
    finally:
        nexq.close()
    logging.getLogger("nexq").info("stopped %d databases with Nexq", stopped)


def _hold(in_use: InUse, settings: Settings) -> None:
    if not in_use.take():
        fail(
            f"{settings.data_dir} is in use by another nexq serve, or by nexq admin move: "
            "stop it first"
        )


def _die_with_parent(parent: int) -> None:
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _backup_certificate(nexq: Nexq) -> tuple[Path, Path]:
    """The backup listener's certificate, from the databases' CA (whose certificate each
    database's pgBackRest is given), for localhost; made at each start."""
    from nexq.databases.tls import issue_server

    folder = nexq.settings.databases_root / "backup-endpoint"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = issue_server(nexq.databases.authority(), ["localhost", "127.0.0.1"], "localhost")
    cert, key = folder / "endpoint.crt", folder / "endpoint.key"
    cert.write_text(made.certificate_pem)
    with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(made.key_pem)
    return cert, key


def _listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off only for sockets that name it, and
    # with Nagle on a small GET's body waits for the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:  # one of the workers' own sockets, all on one port (only this user's)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


OPERATOR = "operator@nexq.local"
OPERATOR_FILE = "operator-password"  # in the data dir, 0600, until the operator deletes it


def _first_start(nexq: Nexq) -> None:
    """On an empty installation, create the operator account; its password goes to a 0600
    file in the data dir, never to stdout (a service manager keeps stdout in its journal)."""
    path = nexq.settings.data_dir / OPERATOR_FILE
    if (
        nexq.accounts.find(OPERATOR) is not None
        or nexq.db.reader().execute("SELECT 1 FROM accounts LIMIT 1").fetchone()
    ):
        if path.exists():
            logging.getLogger("nexq").warning(
                "%s still holds the operator's first password: change the password, then "
                "delete the file",
                path.resolve(),
            )
        return
    from nexq.core.ids import random_string

    password = random_string(20)
    _write_secret(path, password + "\n")
    try:
        nexq.accounts.create(OPERATOR, password, "operator")
    except DomainError:
        path.unlink(missing_ok=True)
        if nexq.accounts.find(OPERATOR) is None:
            raise
        return  # another node, starting at the same time on the same database, made it
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    shown = path.resolve()
    typer.echo(f"First start: created the operator account {OPERATOR}")
    typer.echo("  its password is in a file only the user running Nexq can read:")
    typer.echo(f"    cat '{shown}'")
    typer.echo("  log in, change the password (console: Account > Password), then delete that file")
    typer.echo(
        f'  make an S3 key: nexq admin access-key create --account {OPERATOR} --label "My key"'
    )


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a new file that only this user can read (0600, never a file that
    was there: a leftover of an earlier installation is replaced, a link never followed)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _run_worker(
    settings: Settings,
    sockets: list[socket.socket],
    rates: RateLimiter,
    backup_tls: tuple[Path, Path],
    *,
    control_plane: bool,
) -> None:
    """Serve S3 and the container registry, and the control plane (REST API and console)
    when ``control_plane``.

    Only the first worker serves the control plane: S3 traffic is what grows with cores,
    and the control plane's framework, routes and templates cost each process that builds
    them about 15 MiB at rest (a worker serving S3 alone rests at about 60 MiB RSS, 18 MiB of
    it its own, the rest shared with the parent; one serving both at about 75 MiB, 37 of its
    own, with the services other than storage and accounts built on first use (web.areas):
    bench/memory.py).
    """
    # Imported here: the admin commands never pay for the HTTP server.
    from nexq.cli.listeners import Listener, serve_forever
    from nexq.registry.oci.errors import registry_timeout
    from nexq.web.observe import Observed, access_log_to

    if settings.metrics:
        telemetry.enable()
    logged = access_log_to(settings.access_log)
    nexq = build(settings)
    stop = threading.Event()
    job_log = JobLog()
    start_jobs([job for service in services(nexq) for job in service.jobs], stop, nexq.db, job_log)
    # What `nexq admin status` reads of this worker, published on a thread of its own.
    published = WorkerFile(RunDir(settings.data_dir / "run"), job_log, control_plane=control_plane)
    published.start(stop)
    s3 = s3_app(nexq, rates)
    listeners = [
        Listener(Observed(s3, "s3", logged), sockets[0], s3.request_timeout),
        Listener(
            Observed(registry_app(nexq, rates), "registry", logged), sockets[2], registry_timeout
        ),
        # The databases' backups: S3 too, counted apart.
        Listener(
            Observed(s3, "s3-backups", logged), sockets[3], s3.request_timeout, tls=backup_tls
        ),
    ]
    if control_plane:
        control = Observed(api_app(nexq, rates), "control-plane", logged, paths=False)
        listeners.append(Listener(control, sockets[1]))
    else:
        sockets[1].close()
    try:
        serve_forever(
            listeners,
            settings.tls_cert,
            settings.tls_key,
            settings.body_idle_seconds,
            settings.trusted_proxies,
            settings.shutdown_seconds,
        )
    finally:
        stop.set()
        published.remove()
        nexq.close()


def main() -> None:
    """Entry point of the ``nexq`` command."""
    try:
        cli()
    except SettingsError as exc:  # the operator's NEXQ_* variables, read by every command
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
