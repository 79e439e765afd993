"""Checkpoint integrity: ``last`` and ``previous``, each with its SHA-256 recorded beside it.

A truncated, empty or bit-flipped checkpoint must never be loaded: a flipped bit can load fine and turn the
run into NaNs, recorded as diverged. ``save`` keeps the previous checkpoint (``last`` is renamed to
``previous`` before the new one is written) and records ``<name>.sha256`` after each write; ``load`` verifies
a file against the recorded digests before handing it to the framework, and falls back to ``previous`` when
``last`` does not verify.

A file counts as intact when its digest equals *either* record. The rotation renames the checkpoint before
its record, so for a moment ``previous`` is described by ``last.sha256``; accepting either record keeps one
verifiable checkpoint at every instant, whichever step a kill interrupts.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Callable

from benchmark import runs

LAST, PREVIOUS, DIGEST_SUFFIX = "last", "previous", ".sha256"


class CheckpointError(runs.RunError):
    """No checkpoint of the run folder can be trusted; the message says what was found."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def previous_of(last: Path) -> Path:
    return last.with_name(PREVIOUS + last.name[len(LAST):])


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + DIGEST_SUFFIX)


def _recorded(last: Path) -> set[str]:
    digests = set()
    for path in (last, previous_of(last)):
        try:
            digests.add(_digest_path(path).read_text().split()[0])
        except (OSError, IndexError):
            pass
    return digests


def save(last: Path, write: Callable[[Path], None]) -> None:
    """Keep an intact ``last`` as ``previous``, write the new one through ``write(path)``, record its digest."""
    if last.exists() and file_sha256(last) in _recorded(last):
        os.replace(last, previous_of(last))
        if _digest_path(last).exists():
            os.replace(_digest_path(last), _digest_path(previous_of(last)))
    write(last)
    digest = file_sha256(last)
    runs.atomic_write(_digest_path(last), lambda f: f.write(f"{digest}  {last.name}\n"), mode="w")


def exists(last: Path) -> bool:
    return last.exists() or previous_of(last).exists()


def load(last: Path, restore: Callable[[Path], dict]) -> dict:
    """Verify ``last`` (else ``previous``) and restore it through ``restore(path)``; return its meta.

    ``restore`` raises ``RunError`` for a checkpoint of another run (it passes through); a file that
    fails verification, or that verifies but cannot be read, is skipped with a note on stderr.
    """
    recorded, problems = _recorded(last), []
    for path in (last, previous_of(last)):
        if not path.exists():
            continue
        if file_sha256(path) not in recorded:
            problems.append(f"{path.name}: SHA-256 does not match its record (corrupt, truncated or written "
                            f"by an older version)" if recorded else f"{path.name}: no SHA-256 record beside it")
            continue
        try:
            meta = restore(path)
        except runs.RunError:
            raise
        except Exception as error:  # an intact file the framework cannot read is as unusable as a corrupt one
            first_line = (str(error).strip().splitlines() or [""])[0]  # torch's unpickling refusal is a page long
            problems.append(f"{path.name}: unreadable ({type(error).__name__}: {first_line})")
            continue
        if problems:
            print(f"warning: {'; '.join(problems)}; resumed from {path.name} (step {meta.get('step')})",
                  file=sys.stderr)
        return meta
    raise CheckpointError(f"{last.parent}: no usable checkpoint ({'; '.join(problems)}); delete the run folder "
                          f"to start again")
