"""Tiny files in the data sets' exact formats (idx, CIFAR binary records in a .tar.gz), written by the tests, and
the registry entries that accept them (their sizes and MD5), for this process or for the child processes of a suite
(``child_site``)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from benchmark import datasets


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format: two zero bytes, the type (0x08: unsigned byte), the rank, big-endian sizes, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def cifar_batch(images: np.ndarray, labels: np.ndarray) -> bytes:
    """CIFAR binary records: one label byte, then the 1,024 red, 1,024 green and 1,024 blue bytes (row-major)."""
    return b"".join(bytes([label]) + image.transpose(2, 0, 1).tobytes() for image, label in zip(images, labels))


def tar_gz(folder: str, members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()


def cifar10_archive(batches: dict[str, tuple[np.ndarray, np.ndarray]]) -> bytes:
    """``cifar-10-binary.tar.gz`` holding ``{file: (images [N, 32, 32, 3], labels [N])}``."""
    return tar_gz("cifar-10-batches-bin", {name: cifar_batch(*arrays) for name, arrays in batches.items()})


def cifar10_entry(archive: bytes, sizes: dict[str, int]) -> datasets.Dataset:
    """The registry's CIFAR-10 entry for a tiny archive: its split sizes, size and MD5, no mirror."""
    real = datasets.get_dataset("cifar10")
    tiny = dataclasses.replace(real.archives[0], size=len(archive), md5=md5(archive))
    return dataclasses.replace(real, sizes=sizes, mirrors=(), archives=(tiny,))


def child_site(folder: Path, entry: datasets.Dataset) -> dict[str, str]:
    """The ``PYTHONPATH`` that puts ``entry`` (a tiny data set's) into the registry of every Python process started
    with it, the children of a suite: ``folder`` gets a ``sitecustomize.py`` that loads the entry pickled beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entry.pickle").write_bytes(pickle.dumps(entry))
    repository = Path(__file__).resolve().parents[1]
    (folder / "sitecustomize.py").write_text(
        "import pickle, sys\n"
        f"sys.path.insert(0, {str(repository)!r})\n"
        "from benchmark import datasets\n"
        f"with open({str(folder / 'entry.pickle')!r}, 'rb') as entry:\n"
        f"    datasets.DATASETS[{entry.name!r}] = pickle.load(entry)\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}
