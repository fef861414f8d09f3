"""The backup hold of a blob root (storage.blobs.hold): while a backup holds it, deleted blob
files are moved aside, not unlinked; its end removes them; a crashed backup's leftover is
cleared by the next delete or by start-up recovery."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.hold import HELD_DIR, HOLD_FILE, BackupHold, held_by_other


def _blob(store: FileBlobStore, data: bytes) -> str:
    writer = store.writer()
    writer.write(data)
    return writer.commit()


def _held(root: Path) -> list[str]:
    return sorted(p.name for p in (root / HELD_DIR).iterdir())


def test_without_a_hold_delete_unlinks(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    path = _blob(store, b"x")
    store.delete([path])
    assert not (store.root / path).exists()
    assert not (tmp_path / HELD_DIR).exists()


def test_a_held_root_moves_deleted_blobs_aside_until_the_hold_ends(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    kept, gone = _blob(store, b"kept"), _blob(store, b"gone")
    hold = BackupHold.take(tmp_path)
    assert held_by_other(tmp_path)
    store.delete([gone])
    assert not (store.root / gone).exists()
    assert hold.held(gone).read_bytes() == b"gone"  # still there for the backup to copy
    # Start-up recovery of a server started during the backup: an orphan is moved aside too
    # (the backup's snapshot, older than the server, may name it).
    orphan = _blob(store, b"orphan")
    assert store.recover({kept}) == 1
    assert hold.held(orphan).read_bytes() == b"orphan"
    assert hold.release() == 2
    assert _held(tmp_path) == []
    assert not (tmp_path / HOLD_FILE).exists()
    assert not held_by_other(tmp_path)
    assert (store.root / kept).read_bytes() == b"kept"


def test_a_crashed_backups_leftover_is_cleared_by_the_next_delete(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    first, second = _blob(store, b"1"), _blob(store, b"2")
    # A backup in another process, killed while it holds the root: the kernel drops its lock.
    backup = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from pathlib import Path
                from nexq.storage.blobs.hold import BackupHold
                BackupHold.take(Path({str(tmp_path)!r}))
                print("held", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert backup.stdout is not None and backup.stdout.readline() == "held\n"
        assert held_by_other(tmp_path)
        store.delete([first])
        assert _held(tmp_path) == [first.replace("/", "-")]
    finally:
        backup.send_signal(signal.SIGKILL)
        backup.wait()
    assert not held_by_other(tmp_path)
    assert (tmp_path / HOLD_FILE).exists()  # what the crash left
    store.delete([second])
    assert not (store.root / second).exists()
    assert _held(tmp_path) == []
    assert not (tmp_path / HOLD_FILE).exists()


def test_start_up_recovery_clears_a_leftover(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    kept = _blob(store, b"kept")
    (tmp_path / HELD_DIR).mkdir()
    (tmp_path / HELD_DIR / "ab-abcdef").write_bytes(b"left behind")
    (tmp_path / HOLD_FILE).touch()  # nobody holds it: its backup is gone
    assert store.recover({kept}) == 1
    assert _held(tmp_path) == []
    assert not (tmp_path / HOLD_FILE).exists()
    assert (store.root / kept).exists()
