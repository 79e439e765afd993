"""Run folders as bundles (``benchmark.shipping``): what a Ray task takes to its worker and brings back."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from benchmark import runs, shipping


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_bundle_round_trip_with_result_last(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, name in ((a, "x"), (b, "y")):
        (root / "checkpoints").mkdir(parents=True)
        (root / runs.RESULT).write_text('{"status": "completed"}')
        (root / "checkpoints" / "last.pt").write_bytes(os.urandom(1000))
        (root / "z.txt").write_text(name)
    data = shipping.pack([a, b], shipping.listing([a, b]))
    assert tarfile.open(fileobj=io.BytesIO(data)).getnames()[-2:] == ["0/result.json", "1/result.json"]
    c, d = tmp_path / "c", tmp_path / "d"
    assert len(shipping.unpack(data, [c, d])) == 6
    assert _tree(c) == _tree(a) and _tree(d) == _tree(b)


def test_changes_are_what_the_child_wrote_and_deleted(tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    for name in ("kept", "changed", "deleted"):
        (root / name).write_text(name)
    before = shipping.listing([root])
    (root / "changed").write_text("new content")
    (root / "deleted").unlink()
    (root / "grids").mkdir()
    (root / "grids" / "new.png").write_bytes(b"png")
    changed, deleted = shipping.changes([root], before)
    assert sorted(changed) == ["0/changed", "0/grids/new.png"] and deleted == ["0/deleted"]
    target = tmp_path / "driver"
    target.mkdir()
    (target / "deleted").write_text("stale")
    shipping.unpack(shipping.pack([root], changed), [target], deleted)
    assert _tree(target) == {"changed": b"new content", "grids/new.png": b"png"}


def test_skip_leaves_files_out(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"x")
    (tmp_path / "samples.npz").write_bytes(b"y")
    names = shipping.listing([tmp_path], lambda name: name.split("/")[1] == runs.CHECKPOINTS)
    assert list(names) == ["0/samples.npz"]


@pytest.mark.parametrize("name", ["0/../escape", "/0/x", "0//etc/passwd", "2/x", "x/y", "0/"])
def test_member_names_that_leave_their_root_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="bad bundle member"):
        shipping.member_path([tmp_path, tmp_path], name)
