"""The tier limits a use case asks (core.quotas.Quotas), set by each test."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TierLimits:
    """Every account alike: the limits in ``values``; absent = unlimited."""

    values: dict[str, int] = field(default_factory=dict)

    def limit(self, account_id: str, name: str) -> int | None:
        return self.values.get(name)
