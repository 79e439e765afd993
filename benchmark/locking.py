"""An exclusive lock on a folder, so that two processes never train or write into the same suite or run.

``flock`` on ``FOLDER/.lock``: the kernel drops the lock when its holder dies, however it dies, so a lock
left by a killed process is simply taken over. The file's content (pid, host, start time, purpose) only
names the holder in the refusal message.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sys
from pathlib import Path

LOCK_FILE = ".lock"


class LockError(RuntimeError):
    """The folder cannot be locked, explained in one line (entry points print it and exit 2)."""


class LockHeld(LockError):
    """The folder is locked by a live process; the message names it."""


class FolderLock:
    """``with FolderLock(folder, "suite"):`` holds ``folder/.lock`` exclusively, or raises ``LockHeld``; a folder
    where the lock file cannot be written (read-only, no permission) raises ``LockError``."""

    def __init__(self, folder: str | os.PathLike, purpose: str):
        self.path, self.purpose = Path(folder) / LOCK_FILE, purpose
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise LockHeld(f"{self.path.parent} is in use by {holder}; wait for it to finish or stop it") from None
            # The holder may have removed the file between our open and our lock: then lock the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        stale = _holder(fd)
        if stale != "an unknown process":
            print(f"note: taking over the lock on {self.path.parent} left by {stale} (no longer running)",
                  file=sys.stderr)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                  "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise LockError(f"{self.path.parent}: cannot write there ({error.strerror or error})") from None

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # before unlocking, so a waiter never locks a file we remove
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {record['pid']} on {record['host']} ({record['purpose']}, since {record['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process"
