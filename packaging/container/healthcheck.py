"""The container image's HEALTHCHECK: Nexq's control plane answers GET /health with 200.

Run by the engine inside the container, with the image's settings: the API port and
whether it serves HTTPS (then its certificate is not checked: this asks the server itself,
by loopback, not a client who must trust it).
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("NEXQ_API_PORT", "8080")
    scheme = "https" if os.environ.get("NEXQ_TLS_CERT") else "http"
    context = ssl._create_unverified_context() if scheme == "https" else None  # noqa: S323
    try:
        with urllib.request.urlopen(  # noqa: S310 - a fixed http(s) URL on loopback
            f"{scheme}://127.0.0.1:{port}/health", timeout=4, context=context
        ) as answer:
            return 0 if answer.status == 200 else 1
    except OSError as failed:
        print(f"nexq health: {failed}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
