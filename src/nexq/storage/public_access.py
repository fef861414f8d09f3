"""Block Public Access: a bucket's four switches, kept as JSON in its settings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

SETTING = "publicAccessBlock"


@dataclass(frozen=True, slots=True)
class PublicAccessBlock:
    """What S3 calls PublicAccessBlockConfiguration (every switch off when absent)."""

    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    @classmethod
    def parse(cls, text: str | None) -> PublicAccessBlock:
        """From the stored JSON; None (no configuration) is every switch off."""
        if not text:
            return cls()
        fields = json.loads(text)
        return cls(**{k: bool(v) for k, v in fields.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


# What a new bucket gets (AWS's default for new buckets since April 2023).
BLOCK_ALL = PublicAccessBlock(True, True, True, True)
