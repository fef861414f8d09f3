"""``dcp doctor``: what stands between dcp and a working API, each check with what to do.

It checks, in order: which API URL dcp uses (and where it read it), that a Nexq API answers
there, that this machine's clock agrees with the server's (S3 signatures made with this
clock are refused beyond 15 minutes of skew; a few seconds are fine), and that the API key
is accepted. A check that cannot run because an earlier one failed is not reported.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import typer

from nexq.cli import dcp_config
from nexq.cli.dcp_config import state
from nexq.cli.dcp_output import emit_json
from nexq.client import ApiError, ClientError, NexqClient

# Skews beyond these many seconds: worth fixing (refused by S3 beyond 15 minutes).
SKEW_WARNING = 60.0
SKEW_REFUSED = 900.0


@dataclass(frozen=True, slots=True)
class Check:
    check: str
    ok: bool
    detail: str


def clock_check(local: float, server: float | None) -> Check:
    """Whether ``local`` agrees with the server's ``server`` time (its Date, to the second)."""
    if server is None:
        return Check("clock", True, "the server sent no Date header: skew not measured")
    skew = local - server
    way = "ahead of" if skew > 0 else "behind"
    if abs(skew) < SKEW_WARNING:
        return Check("clock", True, f"in step with the server (within {SKEW_WARNING:.0f} s)")
    seconds = f"{abs(skew):.0f} s {way} the server's"
    if abs(skew) < SKEW_REFUSED:
        return Check(
            "clock",
            False,
            f"this machine's clock is {seconds}: S3 refuses signatures beyond 15 minutes; "
            "turn on time synchronisation (timedatectl set-ntp true)",
        )
    return Check(
        "clock",
        False,
        f"this machine's clock is {seconds}: S3 tools' requests are refused "
        "(RequestTimeTooSkewed); set the clock (timedatectl set-ntp true)",
    )


def doctor(ctx: typer.Context) -> None:
    """Check the API URL, the server, the clock and the API key; say what to fix.

    Exit code 0 when every check passes, 1 otherwise.
    """
    st = state(ctx)
    url = dcp_config.api_url(st.api_url_option)
    checks = [Check("api-url", True, f"{url.value} (from {url.source})")]
    checks += _server_checks(st.api_url(), dcp_config.api_key(st.api_key_option))
    healthy = all(c.ok for c in checks)
    if st.json:
        emit_json({"ok": healthy, "checks": [asdict(c) for c in checks]})
    else:
        for c in checks:
            typer.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.check:<9} {c.detail}")
    if not healthy:
        raise typer.Exit(1)


def _server_checks(api_url: str, key: dcp_config.Setting) -> list[Check]:
    try:
        with NexqClient(api_url, None, timeout=10) as anonymous:
            version = anonymous.health().get("version", "?")
            found = [Check("server", True, f"Nexq {version} answers at {api_url}")]
            found.append(clock_check(time.time(), anonymous.server_clock()))
    except ClientError as exc:  # unreachable, not Nexq (an S3 port), a bad URL
        return [Check("server", False, f"{exc}; check the URL (dcp config set api-url URL)")]
    if not key.value:
        found.append(Check("api-key", False, "no API key: run dcp login (or set DCP_API_KEY)"))
        return found
    try:
        with NexqClient(api_url, key.value, timeout=10) as signed:
            account = signed.account()
        found.append(Check("api-key", True, f"accepted for {account['email']} (from {key.source})"))
    except ApiError as exc:
        if exc.status == 401:
            detail = (
                f"not accepted (from {key.source}): revoked, deleted or mistyped; "
                "run dcp login for a new one"
            )
        elif exc.status == 403:
            detail = f"accepted, but it lacks a scope this check needs: {exc.detail}"
        else:
            detail = f"the server answered {exc.status}: {exc.detail}"
        found.append(Check("api-key", exc.status == 403, detail))
    except ClientError as exc:
        found.append(Check("api-key", False, str(exc)))
    return found
