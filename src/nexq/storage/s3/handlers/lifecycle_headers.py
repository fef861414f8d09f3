"""What a bucket's lifecycle rules announce on object responses: ``x-amz-expiration`` on
GET, HEAD, PUT, CopyObject and CompleteMultipartUpload, ``x-amz-abort-date`` and
``x-amz-abort-rule-id`` on CreateMultipartUpload and ListParts.

Bounded work for ``req.now``: the bucket and its lifecycle document come from the
Directory's caches (one indexed read each when a change dropped them), so a bucket without
rules costs two dictionary lookups; parsed rules are kept by document text.
"""

from __future__ import annotations

import functools

from nexq.storage.lifecycle import Rule
from nexq.storage.lifecycle_json import rules_from_json
from nexq.storage.model import ObjectMeta, Upload
from nexq.storage.s3.handlers.common import Services
from nexq.storage.s3.lifecycle_xml import abort_headers, expiration_header


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> tuple[Rule, ...]:
    return tuple(rules_from_json(text))


def _rules(s: Services, bucket_name: str) -> tuple[Rule, ...]:
    directory = s.objects.directory
    bucket = directory.bucket(bucket_name)
    text = directory.setting(bucket, "lifecycle") if bucket is not None else None
    return _parsed(text) if text else ()


def expiration_headers(
    s: Services, bucket_name: str, meta: ObjectMeta, current: bool = True
) -> dict[str, str]:
    """``x-amz-expiration`` for ``meta`` if it is the ``current`` version and a rule will
    expire it (rules expire current versions only)."""
    if not current or meta.delete_marker:
        return {}
    rules = _rules(s, bucket_name)
    if not rules:
        return {}
    found = expiration_header(rules, meta.key, meta.size, dict(meta.tags), meta.last_modified)
    return {"x-amz-expiration": found} if found is not None else {}


def upload_abort_headers(s: Services, bucket_name: str, upload: Upload) -> dict[str, str]:
    """``x-amz-abort-date`` and ``x-amz-abort-rule-id`` if a rule will abort ``upload``."""
    rules = _rules(s, bucket_name)
    return abort_headers(rules, upload.key, upload.initiated) if rules else {}
