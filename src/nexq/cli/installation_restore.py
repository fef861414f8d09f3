"""``nexq admin restore``: a backup made by ``nexq admin backup`` made into a new data dir,
every file checked against its SHA-256, then checked as ``nexq admin fsck`` checks a data dir
(docs/operations.md, "Backing up an installation"). The backup is read from its folder or
from its S3 bucket (a large object in ranged GETs, several at once); each file's SHA-256 is
taken as it is written and checked against ``SHA256SUMS`` before the restore is done."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from nexq.adminkit import DataDir, emit, fail
from nexq.app import build, sealed_stores
from nexq.cli.backup_folder import FolderSource
from nexq.cli.backup_format import (
    CHECKSUMS,
    FORMAT,
    MANIFEST,
    META,
    BackupRefused,
    Source,
    cluster_refusal,
    each,
    emptied_on_failure,
    known_versions,
    parse_checksums,
    summary_size,
    sync_dir,
    write_durably,
)
from nexq.cli.backup_s3 import S3Failure, S3Location, S3Source, is_s3
from nexq.cli.move import InUse
from nexq.core.db import SchemaMismatch
from nexq.core.keyring import KEYRING_NAME, KeyringError, KeyringFile, census, parse_keyring
from nexq.settings import Settings
from nexq.storage.fsck import check as check_storage


def restore(
    source: Annotated[
        str,
        typer.Option(
            "--from", help="The backup's folder, or s3://BUCKET/PREFIX.", show_default=False
        ),
    ],
    data_dir: DataDir = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="The S3 endpoint of an s3:// backup (default: AWS_ENDPOINT_URL, or AWS's). "
            "Credentials come from the AWS chain: AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws.",
            show_default=False,
        ),
    ] = None,
    master_key: Annotated[
        Path | None,
        typer.Option(
            "--master-key",
            help="The keyring that was current when the backup was taken; copied into the "
            "new data dir as master.key (or set NEXQ_MASTER_KEY_FILE for the server instead).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Restore a backup of `nexq admin backup` into a NEW, empty data dir: every file is
    checked against its SHA-256 (a damaged backup is refused, naming the file), then the
    data dir is checked as `nexq admin fsck` does when the master key is at hand. Then:
    `nexq serve --data-dir NEW`."""
    try:
        settings = Settings.from_env(data_dir=data_dir)
    except ValueError as exc:
        fail(str(exc))
    if reason := cluster_refusal(settings):
        fail(f"{reason} (restore makes an embedded installation: unset those settings)")
    target = settings.data_dir.absolute()
    try:
        backup: Source
        if is_s3(source):
            backup = S3Source(S3Location.parse(source), endpoint_url)
        elif endpoint_url is not None:
            raise BackupRefused("--endpoint-url is for a backup in s3://BUCKET/PREFIX")
        else:
            backup = FolderSource(Path(source).absolute())
        report = _restore(backup, target, settings, master_key)
    except BackupRefused as exc:
        fail(str(exc))
    except S3Failure as exc:
        fail(f"{exc}; nothing was restored into {target}")
    except OSError as exc:
        fail(f"the restore failed, and {target} was emptied: {exc}")
    report.update(_check(settings, report))
    if as_json:
        emit(report)
    else:
        _say(report)
    if report.get("problem"):
        fail(report["problem"])


def _restore(
    source: Source, target: Path, settings: Settings, master_key: Path | None
) -> dict[str, Any]:
    started = time.monotonic()
    manifest = _manifest(source)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupRefused(f"{target} is not empty: restore into a new, empty data dir")
    key_text = _key_text(master_key, settings)
    checksums = f"{source.where}/{CHECKSUMS}"
    try:
        data = source.read(CHECKSUMS)
    except FileNotFoundError:
        raise BackupRefused(f"{checksums} is missing: the backup is damaged") from None
    if hashlib.sha256(data).hexdigest() != manifest["files"][CHECKSUMS]:
        raise BackupRefused(f"{checksums} does not match its SHA-256 in {MANIFEST}: damaged")
    try:
        digests = parse_checksums(data.decode())
    except UnicodeDecodeError:
        raise BackupRefused(f"{checksums} is not text: the backup is damaged") from None
    if digests.get(META) != manifest["files"][META]:
        raise BackupRefused(f"{CHECKSUMS} and {MANIFEST} disagree on {META}: damaged")
    # A key the operator gives, or one the environment names, is the one the server uses.
    key_given = key_text is not None or bool(settings.master_key or settings.master_key_file)
    paths = sorted(p for p in digests if not (p == KEYRING_NAME and key_given))
    restored = {"files": 0, "bytes": 0}
    lock = threading.Lock()

    def restore_file(path: str) -> None:
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            size, digest = source.fetch(path, destination)
        except FileNotFoundError:
            raise BackupRefused(
                f"the backup lacks {path}, which {CHECKSUMS} lists: it is damaged; nothing "
                "was restored"
            ) from None
        if digest != digests[path]:
            raise BackupRefused(
                f"{path} in the backup does not match its SHA-256 in {CHECKSUMS}: the backup "
                "is damaged; nothing was restored"
            )
        with lock:
            restored["files"] += 1
            restored["bytes"] += size

    with emptied_on_failure(target):
        # No server may start on the data dir while it is half made (serve takes this lease).
        in_use = InUse(target)
        try:
            if not in_use.take():
                raise BackupRefused(f"a server started on {target}: stop it, then restore")
            each(paths, restore_file)
            if key_text is not None:
                write_durably(target / KEYRING_NAME, key_text)
            for folder in sorted({(target / p).parent for p in paths}, key=_deepest_first):
                sync_dir(folder)
        finally:
            in_use.close()
    return {
        "path": str(target),
        "from": source.where,
        "created_at": manifest["created_at"],
        "nexq_version": manifest["nexq_version"],
        "databases": int(manifest.get("databases", 0)),
        "files": restored["files"],
        "blobs": sum(1 for p in paths if "blobs" in PurePosixPath(p).parts[:2]),
        "bytes": restored["bytes"],
        "verified": True,
        "seconds": round(time.monotonic() - started, 2),
    }


def _deepest_first(folder: Path) -> int:
    return -len(folder.parts)


def _manifest(source: Source) -> dict[str, Any]:
    """The backup's manifest, checked; BackupRefused saying why it is no usable backup."""
    path = f"{source.where}/{MANIFEST}"
    try:
        manifest = json.loads(source.read(MANIFEST))
    except FileNotFoundError:
        raise BackupRefused(_no_manifest(source)) from None
    except (ValueError, OSError) as exc:
        raise BackupRefused(f"{path} is not a backup manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupRefused(f"{path} is not a manifest of this format ({FORMAT})")
    files, versions = manifest.get("files"), manifest.get("schema_versions")
    if (
        not isinstance(files, dict)
        or not isinstance(versions, dict)
        or not {CHECKSUMS, META} <= files.keys()
        or not {"created_at", "nexq_version"} <= manifest.keys()
    ):
        raise BackupRefused(f"{path} lacks what a manifest holds: damaged")
    known = known_versions()
    newer = {o: v for o, v in versions.items() if o not in known or v > known[o]}
    if newer:
        raise BackupRefused(
            f"the backup was made by a newer Nexq ({manifest['nexq_version']}; tables at "
            f"{newer}): restore it with that version or a later one"
        )
    return manifest


def _no_manifest(source: Source) -> str:
    """Why a backup without a manifest is refused, and what is there instead: files of a
    backup that did not finish, or nothing (a mistyped folder or prefix)."""
    shown = 3
    found = source.some(shown + 1)
    if not found:
        return (
            f"{source.where} holds no {MANIFEST}, nor anything else: is that where the backup "
            "is? Nothing was restored"
        )
    more = ", …" if len(found) > shown else ""
    return (
        f"{source.where} holds no {MANIFEST}, the manifest a backup writes last, but other "
        f"files ({', '.join(found[:shown])}{more}): a backup that did not finish, or not one "
        "of nexq admin backup. Nothing was restored; restore from a backup that finished"
    )


def _key_text(master_key: Path | None, settings: Settings) -> str | None:
    """The keyring given with --master-key, checked to be one."""
    if master_key is None:
        return None
    if settings.master_key or settings.master_key_file:
        raise BackupRefused(
            "--master-key, and NEXQ_MASTER_KEY or NEXQ_MASTER_KEY_FILE: name the key one way"
        )
    try:
        text = master_key.read_text()
        parse_keyring(text)
    except (OSError, ValueError) as exc:
        raise BackupRefused(f"--master-key {master_key}: not a Nexq keyring ({exc})") from None
    return text


def _check(settings: Settings, report: dict[str, Any]) -> dict[str, Any]:
    """fsck of the restored data dir, and whether its master key opens every sealed secret;
    nothing if no key is at hand."""
    target = Path(report["path"])
    if not (settings.master_key or settings.master_key_file or (target / KEYRING_NAME).exists()):
        return {
            "master_key": None,
            "fsck": None,
            "note": (
                f"no master key: put the keyring that was current when the backup was taken "
                f"at {target / KEYRING_NAME} (or set NEXQ_MASTER_KEY_FILE), then run "
                f"nexq admin fsck --data-dir {target}"
            ),
        }
    try:
        nexq = build(settings)
    except (KeyringError, SchemaMismatch) as exc:
        return {"master_key": None, "fsck": None, "problem": f"restored, but {exc}"}
    try:
        storage = check_storage(nexq.store, nexq.blobs)
        registry = nexq.registry_content.check()
        ring = nexq.box.keyring
        known = {ring.current_id, *ring.previous_ids, "none"}
        unknown = {
            kid
            for counts in census(nexq.box, sealed_stores(nexq)).values()
            for kid in counts
            if kid not in known
        }
        source = nexq.box.source
    finally:
        nexq.close()
    fsck = {
        "clean": storage.clean and registry.clean,
        "blobs_referenced": storage.objects_blobs,
        "missing": storage.missing,
        "wrong_size": storage.wrong_size,
        "counters": storage.counters,
        "registry": registry.as_json(),
    }
    where = str(source.path) if isinstance(source, KeyringFile) else "NEXQ_MASTER_KEY"
    found: dict[str, Any] = {"master_key": {"path": where, "opens": not unknown}, "fsck": fsck}
    if unknown:
        found["problem"] = (
            f"restored into {target}, but the master key {where} does not open secrets sealed "
            f"with key {', '.join(sorted(unknown))}: give the keyring that was current when "
            "the backup was taken"
        )
    elif not fsck["clean"]:
        found["problem"] = f"restored into {target}, but fsck finds it damaged: {fsck}"
    return found


def _say(report: dict[str, Any]) -> None:
    typer.echo(
        f"Restored the backup taken {report['created_at']} (Nexq {report['nexq_version']}) "
        f"into {report['path']}: {report['files']} files ({report['blobs']} blob files), "
        f"{summary_size(report['bytes'])}, each checked against its SHA-256."
    )
    if report.get("fsck"):
        state = "clean" if report["fsck"]["clean"] else "NOT clean"
        key = report["master_key"]
        typer.echo(
            f"fsck: {state} ({report['fsck']['blobs_referenced']} object blobs referenced); "
            f"the master key {key['path']} "
            + ("opens every sealed secret." if key["opens"] else "does NOT open every secret.")
        )
    if report.get("note"):
        typer.echo(report["note"][0].upper() + report["note"][1:] + ".")
    if report.get("fsck") and not report.get("problem"):
        typer.echo(f"Start it: nexq serve --data-dir {report['path']}")
    if report["databases"]:
        typer.echo(
            f"{report['databases']} managed databases were restored without their clusters: "
            'see docs/operations.md, "Managed databases after a restore".'
        )
