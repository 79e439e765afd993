"""Downloading one file over HTTP(S) (core, standard library only): resumed, verified, then renamed into place.

The bytes go to a hidden ``.NAME.part`` beside the target, never to the target itself: the target appears only
complete and verified (``os.replace`` is atomic within a folder), so a failed or interrupted download leaves no
file that a loader could read. A transfer cut midway keeps its ``.part``; the next attempt (the next mirror, or
the next run) asks for the rest with an HTTP ``Range`` request and starts over when the server answers with the
whole file instead. A finished file that fails its check is deleted: it is never resumed. Two processes that
want the same file take turns (``flock`` on its folder): the second finds it done and downloads nothing.
"""
from __future__ import annotations

import contextlib
import fcntl
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Sequence, TextIO

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60
PROGRESS_EVERY_S = 0.5


class DownloadError(RuntimeError):
    """No mirror gave a verified file; the message lists each mirror's failure, on one line."""


class ChecksumMismatch(ValueError):
    """Raised by a download's ``check`` on a complete file whose checksum is not the expected one."""


def part_path(target: Path) -> Path:
    """Where the bytes of ``target`` collect until it is complete and verified."""
    return target.with_name(f".{target.name}.part")


def _amount(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.1f} kB"


class Progress:
    """One progress line on ``out``: rewritten in place on a terminal, a line per tenth in a log file."""

    def __init__(self, name: str, total: int | None, out: TextIO):
        self.name, self.total, self.out = name, total, out
        self.terminal = out.isatty()
        self.shown_at, self.shown_tenth = 0.0, -1

    def _line(self, done: int) -> str:
        if not self.total:
            return f"downloading {self.name}: {_amount(done)}"
        return f"downloading {self.name}: {_amount(done)} of {_amount(self.total)} ({done / self.total:.0%})"

    def _tenth(self, done: int) -> int:
        return done * 10 // self.total if self.total else 0

    def update(self, done: int) -> None:
        if self.terminal:
            now = time.monotonic()
            if now - self.shown_at >= PROGRESS_EVERY_S:
                self.out.write("\r" + self._line(done))
                self.out.flush()
                self.shown_at = now
        elif self._tenth(done) > self.shown_tenth:
            self.out.write(self._line(done) + "\n")
            self.out.flush()
            self.shown_tenth = self._tenth(done)

    def finish(self, done: int) -> None:
        """The last line, unless a log file has it already."""
        if self.terminal or not self.total or self._tenth(done) > self.shown_tenth:
            self.out.write(("\r" if self.terminal else "") + self._line(done) + "\n")
            self.out.flush()


def _transfer(url: str, target: Path, size: int | None, out: TextIO) -> None:
    """Append the rest of ``url`` to ``target``'s part (all of it when the server ignores ``Range``)."""
    part = part_path(target)
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:  # not a prefix of this file
        part.unlink()
        offset = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset == size:  # the part was complete already
            return
        if error.code == 416:  # not a prefix of this file either: the next attempt starts over
            part.unlink()
        raise
    with response:
        resumed = response.status == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            part.unlink()  # a part from another place: the next attempt starts over
            raise DownloadError(f"asked for bytes {offset}- and got {response.headers.get('Content-Range')!r}")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if resumed and length else int(length) if length else size
        done = offset if resumed else 0
        progress = Progress(target.name, total, out)
        try:
            with open(part, "ab" if resumed else "wb") as file:
                while chunk := response.read(CHUNK_BYTES):
                    file.write(chunk)
                    done += len(chunk)
                    progress.update(done)
        finally:
            progress.finish(done)
    if total is not None and done != total:  # read(n) returns short, without an error, when a connection drops
        raise DownloadError(f"connection closed after {done:,} of {total:,} bytes")


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Held by one process at a time (the kernel releases it when its holder dies); leaves no file behind."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def download(urls: Sequence[str], target: Path, size: int | None = None,
             check: Callable[[Path], None] | None = None, out: TextIO = sys.stderr) -> Path:
    """Fetch ``target`` from the first of ``urls`` that gives a complete file passing ``check`` (which raises
    ``ChecksumMismatch``); ``size``: the published byte count, when known. Raises ``DownloadError``."""
    with _exclusive(target.parent):
        if target.exists():  # another process fetched it while this one waited
            return target
        return _download(urls, target, size, check, out)


def _download(urls: Sequence[str], target: Path, size: int | None, check: Callable[[Path], None] | None,
              out: TextIO) -> Path:
    part = part_path(target)
    failures = []
    for url in urls:
        try:
            _transfer(url, target, size, out)
        except (OSError, http.client.HTTPException, DownloadError) as error:
            failures.append(f"{url}: {error or type(error).__name__}")
            continue
        try:
            if check is not None:
                check(part)
        except ChecksumMismatch as error:
            part.unlink()
            failures.append(f"{url}: {error}")
            continue
        os.replace(part, target)
        return target
    kept = part.stat().st_size if part.exists() else 0
    resume = f"; {kept:,} bytes kept in {part.name}: run again to resume" if kept else ""
    raise DownloadError("; ".join(failures) + resume)
