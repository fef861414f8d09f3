"""One typed Settings object, read once from flags and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
    workers: int = 1
    master_key: str | None = None

    @staticmethod
    def from_env(**overrides: object) -> Settings:
        """Settings from ``NEXQ_*`` variables; non-None ``overrides`` (flags) win."""
        env = os.environ
        values: dict[str, object] = {
            "data_dir": Path(env.get("NEXQ_DATA_DIR", "./nexq-data")),
            "host": env.get("NEXQ_HOST", "127.0.0.1"),
            "s3_port": int(env.get("NEXQ_S3_PORT", "9000")),
            "api_port": int(env.get("NEXQ_API_PORT", "8080")),
            "region": env.get("NEXQ_REGION", "nexq-1"),
            "s3_domain": env.get("NEXQ_S3_DOMAIN") or None,
            "tls_cert": Path(env["NEXQ_TLS_CERT"]) if env.get("NEXQ_TLS_CERT") else None,
            "tls_key": Path(env["NEXQ_TLS_KEY"]) if env.get("NEXQ_TLS_KEY") else None,
            "workers": int(env.get("NEXQ_WORKERS", "1")),
            "master_key": env.get("NEXQ_MASTER_KEY") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not isinstance(values["data_dir"], Path):
            values["data_dir"] = Path(str(values["data_dir"]))
        return Settings(**values)  # type: ignore[arg-type]
