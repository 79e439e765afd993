"""Run folders as bytes, so that a job can run on a machine that shares no filesystem with the suite.

A bundle is an uncompressed tar (samples and checkpoints are compressed already) of files under a list of
root folders; a member is named ``<index of its root>/<path inside it>``, so the two sides may keep the
folders anywhere. The ``ray`` executor ships a job's run folders to its worker this way and the worker's
changes back (``benchmark.ray_executor``).

Writing a bundle is safe to interrupt: every file lands atomically, and ``result.json`` — the file that
makes a run folder count as finished (``benchmark.suite.folder_state``) — lands last.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from benchmark import runs

Listing = dict[str, tuple[int, int]]  # member name -> (size, mtime in ns)


def listing(roots: list[Path], skip: Callable[[str], bool] = lambda name: False) -> Listing:
    """Every regular file under ``roots`` by member name, except those ``skip`` names."""
    found = {}
    for index, root in enumerate(roots):
        for path in sorted(Path(root).rglob("*")):
            name = f"{index}/{path.relative_to(root).as_posix()}"
            if path.is_file() and not path.is_symlink() and not skip(name):
                stat = path.stat()
                found[name] = (stat.st_size, stat.st_mtime_ns)
    return found


def changes(roots: list[Path], before: Listing) -> tuple[list[str], list[str]]:
    """(files created or modified, files deleted) under ``roots`` since ``before`` was listed."""
    now = listing(roots)
    return [name for name, stamp in now.items() if before.get(name) != stamp], sorted(set(before) - set(now))


def pack(roots: list[Path], names: Iterable[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in sorted(names, key=lambda n: (PurePosixPath(n).name == runs.RESULT, n)):
            tar.add(member_path(roots, name), arcname=name, recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, roots: list[Path], deleted: Iterable[str] = ()) -> list[str]:
    """Delete ``deleted``, then write the bundle's files under ``roots``; returns the names written."""
    for name in deleted:
        member_path(roots, name).unlink(missing_ok=True)
    written = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if not member.isfile():
                continue
            content = tar.extractfile(member).read()
            runs.atomic_write(member_path(roots, member.name), lambda file: file.write(content))
            written.append(member.name)
    return written


def member_path(roots: list[Path], name: str) -> Path:
    """The file a member name stands for; a name that would leave its root is refused."""
    index, _, relative = name.partition("/")
    parts = PurePosixPath(relative).parts
    if not index.isdigit() or int(index) >= len(roots) or not parts or relative.startswith("/") or ".." in parts:
        raise ValueError(f"bad bundle member {name!r}")
    return Path(roots[int(index)], *parts)
