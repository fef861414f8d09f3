"""One typed Settings object, read once from flags and the environment."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, with the embedded defaults of a single machine."""

    data_dir: Path = Path("./nexq-data")
    host: str = "127.0.0.1"
    s3_port: int = 9000
    api_port: int = 8080
    region: str = "nexq-1"
    s3_domain: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    workers: int = 0  # 0: one worker process per core
    master_key: str | None = None
    # Accepted while secrets are re-wrapped to master_key (docs/operations.md, "The master key").
    master_key_previous: str | None = None
    master_key_file: Path | None = None  # the keyring; default: master.key in the data dir
    s3_url: str | None = None  # how clients reach S3, when not host:s3_port (a proxy, a name)
    # How users reach the control plane (console and API) when a proxy is in front of it:
    # an https:// URL makes console cookies Secure even though the proxy speaks plain HTTP.
    public_url: str | None = None
    # Peers (IPs or CIDRs) whose X-Forwarded-For and X-Forwarded-Proto are believed; none by
    # default, so a client cannot pick its own address (login throttling is per address).
    trusted_proxies: tuple[str, ...] = ()
    tiers_file: Path | None = None  # default: tiers.toml in the data dir
    smtp_host: str | None = None  # budget alerts are emailed when set
    smtp_port: int = 25
    smtp_from: str = "nexq@localhost"
    # Webhooks go to public addresses only, except these networks (CIDRs) the operator allows;
    # with a proxy, the proxy decides where names lead (docs/billing.md, "Webhooks").
    webhook_allow: tuple[str, ...] = ()
    webhook_proxy: str | None = None
    # A request body from which no byte arrives for this long is answered 400 RequestTimeout
    # (S3 allows about 20 s) and its connection closed; a slow but steady body is fine.
    body_idle_seconds: float = 20.0

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

    @staticmethod
    def from_env(**overrides: object) -> Settings:
        """Settings from ``NEXQ_*`` variables; non-None ``overrides`` (flags) win."""
        env = os.environ

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        settings = Settings(
            data_dir=Path(env.get("NEXQ_DATA_DIR", "./nexq-data")),
            host=env.get("NEXQ_HOST", "127.0.0.1"),
            s3_port=int(env.get("NEXQ_S3_PORT", "9000")),
            api_port=int(env.get("NEXQ_API_PORT", "8080")),
            region=env.get("NEXQ_REGION", "nexq-1"),
            s3_domain=env.get("NEXQ_S3_DOMAIN") or None,
            tls_cert=path("NEXQ_TLS_CERT"),
            tls_key=path("NEXQ_TLS_KEY"),
            workers=int(env.get("NEXQ_WORKERS", "0")),
            master_key=env.get("NEXQ_MASTER_KEY") or None,
            master_key_previous=env.get("NEXQ_MASTER_KEY_PREVIOUS") or None,
            master_key_file=path("NEXQ_MASTER_KEY_FILE"),
            s3_url=env.get("NEXQ_S3_URL") or None,
            public_url=env.get("NEXQ_PUBLIC_URL") or None,
            trusted_proxies=_networks(env.get("NEXQ_TRUSTED_PROXIES", "")),
            tiers_file=path("NEXQ_TIERS_FILE"),
            smtp_host=env.get("NEXQ_SMTP_HOST") or None,
            smtp_port=int(env.get("NEXQ_SMTP_PORT", "25")),
            smtp_from=env.get("NEXQ_SMTP_FROM", "nexq@localhost"),
            webhook_allow=tuple(
                n.strip() for n in env.get("NEXQ_WEBHOOK_ALLOW", "").split(",") if n.strip()
            ),
            webhook_proxy=env.get("NEXQ_WEBHOOK_PROXY") or None,
            body_idle_seconds=float(env.get("NEXQ_BODY_IDLE_SECONDS", "20")),
        )
        flags = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in flags:
            flags["data_dir"] = Path(str(flags["data_dir"]))
        if isinstance(flags.get("trusted_proxies"), str):  # the flag is one comma list
            flags["trusted_proxies"] = _networks(str(flags["trusted_proxies"]))
        settings = replace(settings, **flags)  # type: ignore[arg-type]  # typed by the CLI
        _check_webhook_settings(settings)
        public = settings.public_url
        if public is not None and not (
            public.startswith(("http://", "https://")) and urlsplit(public).hostname
        ):
            raise ValueError("NEXQ_PUBLIC_URL: a URL such as https://cloud.example.com")
        if not 0 < settings.body_idle_seconds < float("inf"):
            raise ValueError("NEXQ_BODY_IDLE_SECONDS must be a positive number of seconds")
        if settings.workers <= 0:
            settings = replace(settings, workers=os.cpu_count() or 1)
        return settings


def _check_webhook_settings(settings: Settings) -> None:
    """A mistyped network or proxy is said at start, not at the first alert."""
    for network in settings.webhook_allow:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(
                f"NEXQ_WEBHOOK_ALLOW: {network!r} is not an address or a network such as "
                "10.1.0.0/16"
            ) from None
    proxy = settings.webhook_proxy
    if proxy is not None and not (proxy.startswith("http://") and urlsplit(proxy).hostname):
        raise ValueError("NEXQ_WEBHOOK_PROXY: an http:// URL such as http://proxy.internal:3128")


def _networks(text: str) -> tuple[str, ...]:
    """Comma-separated IPs or CIDRs, each checked (ValueError naming a wrong one)."""
    found = tuple(item.strip() for item in text.split(",") if item.strip())
    for item in found:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"NEXQ_TRUSTED_PROXIES: {item!r} is not an IP address or a network such as "
                "10.0.0.0/8"
            ) from None
    return found
