"""One typed Settings object, read once from flags and the environment."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def _text(value: str) -> str | None:
    return value or None


def _path(value: str) -> Path | None:
    return Path(value) if value else None


def _flag(value: str) -> bool:
    """on/off, as an operator writes it (true/false, yes/no, 1/0 too)."""
    text = value.strip().lower()
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"{value!r} is not on or off")


def _level(value: str) -> str:
    text = value.strip().lower()
    if text not in ("debug", "info", "warning", "error"):
        raise ValueError(f"{value!r} is not one of debug, info, warning, error")
    return text


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def setting(default: Any, env: str, parse: Callable[[str], Any], group: str) -> Any:
    """One setting, declared once: its default, its ``NEXQ_*`` variable and how to read it.

    ``group`` is the part of Nexq it configures (server, secrets, storage, account,
    billing), as docs list them.
    """
    return field(default=default, metadata={"env": env, "parse": parse, "group": group})


class SettingsError(ValueError):
    """A ``NEXQ_*`` variable (or the flag that stands for it) whose value is not valid."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, with the embedded defaults of a single machine. Flags of
    ``nexq serve`` override the variables, which override these defaults."""

    # server ------------------------------------------------------------------------------
    data_dir: Path = setting(Path("./nexq-data"), "NEXQ_DATA_DIR", Path, "server")
    # The metadata database: a postgresql:// URL for several nodes (docs/scale-out.md); by
    # default, SQLite in the data dir. It may hold a password: never logged.
    database_url: str | None = setting(None, "NEXQ_DATABASE_URL", _text, "server")
    # Where object bytes go: a rados://POOL?conf=…&id=… URL (a Ceph cluster, several nodes);
    # by default, files in the data dir.
    blobs_url: str | None = setting(None, "NEXQ_BLOBS_URL", _text, "server")
    host: str = setting("127.0.0.1", "NEXQ_HOST", str, "server")
    api_port: int = setting(8080, "NEXQ_API_PORT", int, "server")
    tls_cert: Path | None = setting(None, "NEXQ_TLS_CERT", _path, "server")
    tls_key: Path | None = setting(None, "NEXQ_TLS_KEY", _path, "server")
    workers: int = setting(0, "NEXQ_WORKERS", int, "server")  # 0: one worker per core
    # How many nodes share the requests behind the load balancer: each node enforces this
    # share of every request-rate limit (core/ratelimit.py; docs/scale-out.md).
    nodes: int = setting(1, "NEXQ_NODES", int, "server")
    # How users reach the control plane (console and API) when a proxy is in front of it:
    # an https:// URL makes console cookies Secure even though the proxy speaks plain HTTP.
    public_url: str | None = setting(None, "NEXQ_PUBLIC_URL", _text, "server")
    # Peers (IPs or CIDRs) whose X-Forwarded-For and X-Forwarded-Proto are believed; none by
    # default, so a client cannot pick its own address (login throttling is per address).
    trusted_proxies: tuple[str, ...] = setting((), "NEXQ_TRUSTED_PROXIES", _list, "server")
    # A request body from which no byte arrives for this long is answered (S3: 400
    # RequestTimeout, as S3 does after about 20 s) and its connection closed.
    body_idle_seconds: float = setting(20.0, "NEXQ_BODY_IDLE_SECONDS", float, "server")
    # When `nexq serve` is stopped, requests under way get this long to finish.
    shutdown_seconds: float = setting(30.0, "NEXQ_SHUTDOWN_SECONDS", float, "server")
    # Prometheus metrics at /metrics on the control plane, for operators' API keys
    # (docs/operations.md, "Metrics"); off: nothing counted, /metrics answers 404.
    metrics: bool = setting(True, "NEXQ_METRICS", _flag, "server")
    # One JSON line per request: off, stderr, or a file path (appended).
    access_log: str = setting("off", "NEXQ_ACCESS_LOG", str, "server")
    # The application log's level: debug, info, warning, error.
    log_level: str = setting("info", "NEXQ_LOG_LEVEL", _level, "server")
    # secrets -----------------------------------------------------------------------------
    master_key: str | None = setting(None, "NEXQ_MASTER_KEY", _text, "secrets")
    # Accepted while secrets are re-wrapped to master_key (docs/operations.md, "The master key").
    master_key_previous: str | None = setting(None, "NEXQ_MASTER_KEY_PREVIOUS", _text, "secrets")
    # The keyring; default: master.key in the data dir.
    master_key_file: Path | None = setting(None, "NEXQ_MASTER_KEY_FILE", _path, "secrets")
    # Object Storage ----------------------------------------------------------------------
    s3_port: int = setting(9000, "NEXQ_S3_PORT", int, "storage")
    region: str = setting("nexq-1", "NEXQ_REGION", str, "storage")
    s3_domain: str | None = setting(None, "NEXQ_S3_DOMAIN", _text, "storage")
    # Buckets' static websites are served at <bucket>.<this> on the S3 port (docs/website.md);
    # browsers resolve *.localhost to this machine, so the default works without DNS here.
    s3_website_domain: str = setting(
        "s3-website.localhost", "NEXQ_S3_WEBSITE_DOMAIN", str, "storage"
    )
    # How clients reach S3, when not host:s3_port (a proxy, a name).
    s3_url: str | None = setting(None, "NEXQ_S3_URL", _text, "storage")
    # How often the lifecycle rules of every bucket are applied (docs/lifecycle.md).
    lifecycle_interval: float = setting(86_400.0, "NEXQ_LIFECYCLE_INTERVAL", float, "storage")
    # Container Registry -----------------------------------------------------------------
    registry_port: int = setting(5000, "NEXQ_REGISTRY_PORT", int, "registry")
    # The host name (and port, if not 443) clients push to, when not host:registry_port
    # (a proxy, a name): images are named <registry_domain>/<registry>/<repository>:<tag>.
    registry_domain: str | None = setting(None, "NEXQ_REGISTRY_DOMAIN", _text, "registry")
    # Databases ---------------------------------------------------------------------------
    # Where each database's volumes and files go (default: databases/ in the data dir); the
    # postgres OS user must be able to reach it when Nexq runs as root.
    databases_dir: Path | None = setting(None, "NEXQ_DATABASES_DIR", _path, "databases")
    # The host name clients connect to (connection strings, the servers' certificates);
    # default: localhost when Nexq listens on loopback, else the listen address.
    databases_host: str | None = setting(None, "NEXQ_DATABASES_HOST", _text, "databases")
    # The address the PostgreSQL servers listen on; default: Nexq's own (--host).
    databases_listen: str | None = setting(None, "NEXQ_DATABASES_LISTEN", _text, "databases")
    # The ports the servers get, one each (keep them below 32768, the ephemeral range).
    databases_ports: str = setting("15432-16431", "NEXQ_DATABASES_PORTS", str, "databases")
    # What databases may take of this host; 0: four vCPUs per core, half the memory, the
    # free disk less a tenth. A database that does not fit waits, Pending.
    databases_vcpus: int = setting(0, "NEXQ_DATABASES_VCPUS", int, "databases")
    databases_memory_mib: int = setting(0, "NEXQ_DATABASES_MEMORY_MIB", int, "databases")
    databases_storage_gib: float = setting(0.0, "NEXQ_DATABASES_STORAGE_GIB", float, "databases")
    # loop: each database's storage is an ext4 volume of its plan's size (needs root);
    # directory: plain folders, no size enforced (development without root).
    databases_volumes: str = setting("loop", "NEXQ_DATABASES_VOLUMES", str, "databases")
    # Backups go to Nexq's own Object Storage, through a listener of its own on loopback
    # with TLS (pgBackRest speaks HTTPS only), in a bucket of a system account.
    databases_backup_port: int = setting(9443, "NEXQ_DATABASES_BACKUP_PORT", int, "databases")
    # How often a full backup is taken (WAL is archived continuously), and how long kept.
    databases_backup_every: float = setting(
        86_400.0, "NEXQ_DATABASES_BACKUP_EVERY", float, "databases"
    )
    databases_backup_days: int = setting(7, "NEXQ_DATABASES_BACKUP_DAYS", int, "databases")
    # When `nexq serve` stops: keep the databases running (their clients never notice), or
    # stop them cleanly (they start again with Nexq).
    databases_on_stop: str = setting("keep", "NEXQ_DATABASES_ON_STOP", str, "databases")
    # PostgreSQL 15's programs; default: /usr/lib/postgresql/15/bin (Debian's postgresql-15).
    postgres_bindir: Path | None = setting(None, "NEXQ_POSTGRES_BINDIR", _path, "databases")
    # Compute -----------------------------------------------------------------------------
    # Where instances' disks, machines and images go (default: compute/ in the data dir).
    compute_dir: Path | None = setting(None, "NEXQ_COMPUTE_DIR", _path, "compute")
    # The host name users ssh to; default as for databases (localhost on loopback).
    compute_host: str | None = setting(None, "NEXQ_COMPUTE_HOST", _text, "compute")
    # The address instances' SSH ports listen on; default: Nexq's own (--host).
    compute_listen: str | None = setting(None, "NEXQ_COMPUTE_LISTEN", _text, "compute")
    # The SSH ports instances get, one each (below 32768, the ephemeral range).
    compute_ports: str = setting("12022-13021", "NEXQ_COMPUTE_PORTS", str, "compute")
    # What instances may take of this host; 0: two vCPUs per core, half the memory. An
    # instance that does not fit waits, Pending.
    compute_vcpus: int = setting(0, "NEXQ_COMPUTE_VCPUS", int, "compute")
    compute_memory_mib: int = setting(0, "NEXQ_COMPUTE_MEMORY_MIB", int, "compute")
    # Account -----------------------------------------------------------------------------
    tiers_file: Path | None = setting(None, "NEXQ_TIERS_FILE", _path, "account")  # data dir's
    # Billing -----------------------------------------------------------------------------
    smtp_host: str | None = setting(None, "NEXQ_SMTP_HOST", _text, "billing")  # emails alerts
    smtp_port: int = setting(25, "NEXQ_SMTP_PORT", int, "billing")
    smtp_from: str = setting("nexq@localhost", "NEXQ_SMTP_FROM", str, "billing")
    # Webhooks go to public addresses only, except these networks (CIDRs) the operator allows;
    # with a proxy, the proxy decides where names lead (docs/billing.md, "Webhooks").
    webhook_allow: tuple[str, ...] = setting((), "NEXQ_WEBHOOK_ALLOW", _list, "billing")
    webhook_proxy: str | None = setting(None, "NEXQ_WEBHOOK_PROXY", _text, "billing")

    @property
    def tiers_path(self) -> Path:
        """The operator's tier file."""
        return self.tiers_file or self.data_dir / "tiers.toml"

    @property
    def s3_endpoint(self) -> str:
        """The S3 URL that the API hands out (presigned URLs, aws-cli profiles)."""
        if self.s3_url:
            return self.s3_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)  # noqa: S104
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.s3_port}"

    @property
    def s3_website_endpoint(self) -> str:
        """A bucket's website URL, ``{bucket}`` standing for its name: by host name, on the
        S3 port (or the port of ``s3_url``)."""
        parts = urlsplit(self.s3_endpoint)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{{bucket}}.{self.s3_website_domain}{port}"

    @property
    def registry_endpoint(self) -> str:
        """The registry's host as image names start with it (``host:port``, no scheme)."""
        if self.registry_domain:
            return self.registry_domain
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)  # noqa: S104
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.registry_port}"

    @property
    def compute_root(self) -> Path:
        return self.compute_dir or self.data_dir / "compute"

    @property
    def compute_listen_on(self) -> str:
        """The address QEMU forwards instances' SSH ports from."""
        return self.compute_listen or self.host

    @property
    def compute_endpoint(self) -> str:
        """The host users ssh to their instances at."""
        if self.compute_host:
            return self.compute_host
        if self.host in ("127.0.0.1", "::1", "localhost"):
            return "localhost"
        return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)  # noqa: S104

    @property
    def databases_root(self) -> Path:
        return self.databases_dir or self.data_dir / "databases"

    @property
    def databases_listen_on(self) -> str:
        listen = self.databases_listen or self.host
        return {"0.0.0.0": "*", "::": "*"}.get(listen, listen)  # noqa: S104

    @property
    def databases_endpoint(self) -> str:
        """The host clients connect to their databases at."""
        if self.databases_host:
            return self.databases_host
        if self.host in ("127.0.0.1", "::1", "localhost"):
            return "localhost"
        return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)  # noqa: S104

    @staticmethod
    def from_env(**overrides: object) -> Settings:
        """Settings from ``NEXQ_*`` variables; non-None ``overrides`` (flags) win.

        A value that is not valid is a :class:`SettingsError` naming its variable."""
        try:
            return Settings._read(overrides)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None

    @staticmethod
    def _read(overrides: dict[str, object]) -> Settings:
        values: dict[str, Any] = {}
        for declared in fields(Settings):
            raw = os.environ.get(declared.metadata["env"])
            if raw is not None and raw != "":
                try:
                    values[declared.name] = declared.metadata["parse"](raw)
                except ValueError:
                    raise ValueError(f"{declared.metadata['env']}: {raw!r} is not valid") from None
        settings = Settings(**values)
        flags = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in flags:
            flags["data_dir"] = Path(str(flags["data_dir"]))
        if isinstance(flags.get("trusted_proxies"), str):  # the flag is one comma list
            flags["trusted_proxies"] = _list(str(flags["trusted_proxies"]))
        settings = replace(settings, **flags)  # type: ignore[arg-type]  # typed by the CLI
        _check_networks("NEXQ_TRUSTED_PROXIES", settings.trusted_proxies)
        _check_webhook_settings(settings)
        public = settings.public_url
        if public is not None and not (
            public.startswith(("http://", "https://")) and urlsplit(public).hostname
        ):
            raise ValueError("NEXQ_PUBLIC_URL: a URL such as https://cloud.example.com")
        database = settings.database_url
        if database is not None and urlsplit(database).scheme not in ("postgresql", "postgres"):
            raise ValueError(
                "NEXQ_DATABASE_URL: a PostgreSQL URL such as postgresql://nexq@db.example.com/nexq"
            )
        if settings.blobs_url is not None and urlsplit(settings.blobs_url).scheme != "rados":
            raise ValueError("NEXQ_BLOBS_URL: a URL such as rados://nexq?conf=/etc/ceph/ceph.conf")
        if not 0 < settings.body_idle_seconds < float("inf"):
            raise ValueError("NEXQ_BODY_IDLE_SECONDS must be a positive number of seconds")
        if not 0 <= settings.shutdown_seconds < float("inf"):
            raise ValueError("NEXQ_SHUTDOWN_SECONDS: a number of seconds, 0 or more")
        if not 0 < settings.lifecycle_interval < float("inf"):
            raise ValueError("NEXQ_LIFECYCLE_INTERVAL must be a positive number of seconds")
        if settings.nodes < 1:
            raise ValueError("NEXQ_NODES: the number of nodes, at least 1")
        if settings.databases_on_stop not in ("keep", "stop"):
            raise ValueError("NEXQ_DATABASES_ON_STOP: keep (the default) or stop")
        if settings.databases_volumes not in ("loop", "directory"):
            raise ValueError("NEXQ_DATABASES_VOLUMES: loop (sizes enforced) or directory")
        if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", settings.databases_ports):
            raise ValueError("NEXQ_DATABASES_PORTS: ports such as 15432-16431 or 20001,20005")
        if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", settings.compute_ports):
            raise ValueError("NEXQ_COMPUTE_PORTS: ports such as 12022-13021 or 20001,20005")
        if settings.access_log not in ("off", "stderr") and not (
            Path(settings.access_log).is_absolute() and Path(settings.access_log).parent.is_dir()
        ):
            raise ValueError(
                "NEXQ_ACCESS_LOG: off, stderr, or the absolute path of a file in a folder "
                f"that exists (not {settings.access_log!r})"
            )
        if settings.workers <= 0:
            settings = replace(settings, workers=os.cpu_count() or 1)
        return settings


def _check_networks(variable: str, networks: tuple[str, ...]) -> None:
    """IPs or CIDRs, each checked (ValueError naming a wrong one)."""
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(
                f"{variable}: {network!r} is not an address or a network such as 10.1.0.0/16"
            ) from None


def _check_webhook_settings(settings: Settings) -> None:
    """A mistyped network or proxy is said at start, not at the first alert."""
    _check_networks("NEXQ_WEBHOOK_ALLOW", settings.webhook_allow)
    proxy = settings.webhook_proxy
    if proxy is not None and not (proxy.startswith("http://") and urlsplit(proxy).hostname):
        raise ValueError("NEXQ_WEBHOOK_PROXY: an http:// URL such as http://proxy.internal:3128")
