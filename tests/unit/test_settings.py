"""Settings: each declared once (default, variable, group), read from the environment."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from nexq.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_has_a_variable_a_group_and_a_line_in_the_readme() -> None:
    readme = README.read_text()
    for declared in fields(Settings):
        variable = declared.metadata["env"]
        assert variable.startswith("NEXQ_"), declared.name
        assert declared.metadata["group"] in {
            "server",
            "secrets",
            "storage",
            "registry",
            "databases",
            "compute",
            "account",
            "billing",
        }
        assert f"`{variable}`" in readme, f"README's settings table lacks {variable}"


def test_the_environment_overrides_defaults_and_flags_override_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXQ_S3_PORT", "9100")
    monkeypatch.setenv("NEXQ_DATA_DIR", "/srv/nexq")
    monkeypatch.setenv("NEXQ_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    monkeypatch.setenv("NEXQ_BODY_IDLE_SECONDS", "7.5")
    monkeypatch.setenv("NEXQ_LIFECYCLE_INTERVAL", "3600")
    monkeypatch.setenv("NEXQ_SMTP_HOST", "")  # empty means unset
    monkeypatch.setenv("NEXQ_METRICS", "Off")
    monkeypatch.setenv("NEXQ_LOG_LEVEL", "WARNING")
    settings = Settings.from_env(api_port=8181)
    assert settings.s3_port == 9100 and settings.api_port == 8181
    assert settings.data_dir == Path("/srv/nexq")
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.1")
    assert settings.body_idle_seconds == 7.5
    assert settings.lifecycle_interval == 3600
    assert settings.metrics is False and settings.log_level == "warning"
    assert settings.access_log == "off"
    assert settings.smtp_host is None and settings.region == "nexq-1"
    assert settings.workers >= 1  # 0 means one per core


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("NEXQ_S3_PORT", "ninety", "NEXQ_S3_PORT"),
        ("NEXQ_TRUSTED_PROXIES", "10.0.0.0/8,proxy", "proxy"),
        ("NEXQ_WEBHOOK_ALLOW", "not-a-net", "not-a-net"),
        ("NEXQ_PUBLIC_URL", "cloud.example.com", "NEXQ_PUBLIC_URL"),
        ("NEXQ_BODY_IDLE_SECONDS", "0", "NEXQ_BODY_IDLE_SECONDS"),
        ("NEXQ_LIFECYCLE_INTERVAL", "-1", "NEXQ_LIFECYCLE_INTERVAL"),
        ("NEXQ_DATABASES_VOLUMES", "zfs", "NEXQ_DATABASES_VOLUMES"),
        ("NEXQ_DATABASES_PORTS", "15432..16000", "NEXQ_DATABASES_PORTS"),
        ("NEXQ_METRICS", "maybe", "NEXQ_METRICS"),
        ("NEXQ_LOG_LEVEL", "loud", "NEXQ_LOG_LEVEL"),
        ("NEXQ_ACCESS_LOG", "access.log", "absolute path"),
        ("NEXQ_ACCESS_LOG", "/no/such/folder/access.log", "/no/such/folder"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=says):
        Settings.from_env()
