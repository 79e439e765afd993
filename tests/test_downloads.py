"""Fashion-MNIST, CIFAR-10 and the downloader without the real files: tiny files in each exact format (idx .gz,
CIFAR binary .tar.gz), written here and served by an HTTP server on 127.0.0.1 that can drop a connection midway
and can ignore ``Range``."""
import dataclasses
import gzip
import hashlib
import http.server
import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark import datasets, downloads
from benchmark.datasets import DataError
from tiny_datasets import cifar_batch, idx_bytes, md5, tar_gz

FASHION, CIFAR = datasets.get_dataset("fashion-mnist"), datasets.get_dataset("cifar10")
CIFAR_ARCHIVE = "cifar-10-binary.tar.gz"


class FileServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` (name -> bytes); ``drop_after[name] = n`` cuts the next answer for it after n bytes;
    ``honour_range = False`` answers every ``Range`` request with the whole file, ``range_shift`` states a range that
    starts that many bytes later than the one sent; ``delay_s`` before each answer.
    ``requests``: (name, Range) of each request."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}
        self.honour_range = True
        self.range_shift = 0
        self.delay_s = 0.0
        self.requests: list[tuple[str, str | None]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"


class RangeHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name, wanted = self.path.lstrip("/"), self.headers.get("Range")
        self.server.requests.append((name, wanted))
        time.sleep(self.server.delay_s)
        body = self.server.files.get(name)
        if body is None:
            self.send_error(404)
            return
        start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted and self.server.honour_range else 0
        if start >= len(body):
            self.send_error(416)
            return
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start + self.server.range_shift}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = self.server.drop_after.pop(name, None)
        self.wfile.write(body[start:] if cut is None else body[start:cut])  # then HTTP/1.0 closes the connection

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    for variable in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    files = FileServer()
    thread = threading.Thread(target=files.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield files
    files.shutdown()
    files.server_close()


# ------------------------------------------------------------------------------- tiny files in the real formats

@pytest.fixture(scope="module")
def tiny_cifar():
    """Two records per training batch and three test records, random pixels: (archive, {split: (images, labels)})."""
    rng = np.random.default_rng(25)
    batches, arrays = {}, {"train": ([], []), "test": ([], [])}
    layout = [*(("train", file, 2) for file in datasets.CIFAR10_TRAIN_BATCHES), ("test", "test_batch.bin", 3)]
    for split, name, count in layout:
        images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        batches[name] = cifar_batch(images, labels)
        arrays[split][0].append(images)
        arrays[split][1].append(labels)
    archive = tar_gz("cifar-10-batches-bin", {**batches, "batches.meta.txt": b"airplane\nautomobile\n"})
    return archive, batches, {split: tuple(map(np.concatenate, pair)) for split, pair in arrays.items()}


def cifar_entry(server, archive: bytes, **fields) -> datasets.Dataset:
    """The CIFAR-10 entry served by ``server`` with the tiny archive's size and MD5."""
    (real,) = CIFAR.archives
    tiny = dataclasses.replace(real, size=len(archive), md5=md5(archive))
    server.files[CIFAR_ARCHIVE] = archive
    return dataclasses.replace(CIFAR, mirrors=(server.url,), archives=(tiny,), **fields)


@pytest.fixture(scope="module")
def tiny_fashion():
    """Four images and labels per split as idx .gz archives: ({archive name: bytes}, {split: (images, labels)})."""
    rng = np.random.default_rng(1708)
    files, arrays = {}, {}
    for split, (images_file, labels_file) in FASHION.files.items():
        images = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=4, dtype=np.uint8)
        files[f"{images_file}.gz"] = gzip.compress(idx_bytes(images), mtime=0)
        files[f"{labels_file}.gz"] = gzip.compress(idx_bytes(labels), mtime=0)
        arrays[split] = images, labels
    return files, arrays


def fashion_entry(server, files: dict[str, bytes]) -> datasets.Dataset:
    server.files.update(files)
    return dataclasses.replace(FASHION, mirrors=(server.url,), archives=datasets.gzip_archives(
        {name[:-3]: len(content) for name, content in files.items()},
        md5={name[:-3]: md5(content) for name, content in files.items()}))


# ------------------------------------------------------------------------------------------------ the registry

def test_the_registry_states_fashion_mnist_and_cifar10_as_published():
    assert FASHION.image_shape == (1, 28, 28) and FASHION.array_shape == (28, 28)
    assert (FASHION.train_size, FASHION.test_size, FASHION.classes) == (60_000, 10_000, 10)
    assert {a.name: (a.size, a.md5) for a in FASHION.archives} == {
        "train-images-idx3-ubyte.gz": (26_421_880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels-idx1-ubyte.gz": (29_515, "25c81989df183df01b3e8a0aad5dffbe"),
        "t10k-images-idx3-ubyte.gz": (4_422_102, "bef4ecab320f06d8554ea6380940ec79"),
        "t10k-labels-idx1-ubyte.gz": (5_148, "bb300cfdad3c16e7a12a480ee83cd310")}
    assert CIFAR.image_shape == (3, 32, 32) and CIFAR.array_shape == (32, 32, 3)
    assert (CIFAR.train_size, CIFAR.test_size, CIFAR.classes) == (50_000, 10_000, 10)
    (archive,) = CIFAR.archives
    assert (archive.name, archive.size, archive.md5) == (CIFAR_ARCHIVE, 170_052_171, "c32a1d4ab5d03f1284b67883e8d87530")
    assert CIFAR.files == {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
    assert [entry.data_dir_env for entry in (FASHION, CIFAR)] == ["FASHION_MNIST_DIR", "CIFAR10_DIR"]
    assert not any("python" in archive.name for entry in (FASHION, CIFAR) for archive in entry.archives)


def test_the_registry_refuses_a_file_it_could_not_verify_or_find():
    unverifiable = dataclasses.replace(CIFAR, name="cifar-copy", archives=(
        dataclasses.replace(CIFAR.archives[0], md5=None),))
    with pytest.raises(DataError, match="'cifar-copy': neither a SHA-256 nor an archive MD5 for data_batch_1.bin"):
        datasets.register_dataset(unverifiable)
    homeless = dataclasses.replace(FASHION, name="fashion-copy", archives=FASHION.archives[1:])
    with pytest.raises(DataError, match="'fashion-copy': train-images-idx3-ubyte not in exactly one archive"):
        datasets.register_dataset(homeless)
    assert "cifar-copy" not in datasets.DATASETS and "fashion-copy" not in datasets.DATASETS


# ------------------------------------------------------------------------------- download, parse, verification

def test_cifar10_is_downloaded_once_verified_and_parsed(server, tiny_cifar, tmp_path, capsys):
    archive, _, arrays = tiny_cifar
    entry = cifar_entry(server, archive)
    for split in ("train", "test"):
        images, labels = entry.loader(entry, split, tmp_path, True)
        expected_images, expected_labels = arrays[split]
        assert images.dtype == labels.dtype == np.uint8 and images.shape == (len(expected_labels), 32, 32, 3)
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, expected_labels)
    assert server.requests == [(CIFAR_ARCHIVE, None)]
    assert [p.name for p in tmp_path.iterdir()] == [CIFAR_ARCHIVE]
    progress = capsys.readouterr().err.splitlines()
    kilobytes = f"{len(archive) / 1e3:.1f} kB"
    assert progress[-1] == f"downloading {CIFAR_ARCHIVE}: {kilobytes} of {kilobytes} (100%)" and len(progress) <= 11


def test_fashion_mnist_is_downloaded_verified_and_parsed(server, tiny_fashion, tmp_path):
    files, arrays = tiny_fashion
    entry = fashion_entry(server, files)
    images, labels = entry.loader(entry, "test", tmp_path, True)
    np.testing.assert_array_equal(images, arrays["test"][0])
    np.testing.assert_array_equal(labels, arrays["test"][1])
    assert sorted(name for name, _ in server.requests) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_a_checksum_mismatch_is_one_line_and_leaves_nothing(server, tiny_cifar, tmp_path):
    archive, _, _ = tiny_cifar
    entry = cifar_entry(server, archive)
    entry = dataclasses.replace(entry, archives=(dataclasses.replace(entry.archives[0], md5="0" * 32),))
    target = tmp_path / "new" / "cifar10"
    with pytest.raises(DataError, match=rf"{CIFAR_ARCHIVE} is missing and could not be downloaded \(http://127.0.0.1:"
                                        rf"\d+/{CIFAR_ARCHIVE}: MD5 mismatch \(got {md5(archive)[:12]}…, "
                                        rf"expected 000000000000…\)\)") as error:
        entry.loader(entry, "test", target, True)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []  # neither the file, nor its part, nor the folders the download made


def test_an_interrupted_download_leaves_no_file_and_the_next_run_resumes_it(server, tiny_cifar, tmp_path):
    archive, _, arrays = tiny_cifar
    entry = cifar_entry(server, archive)
    half = len(archive) // 2
    server.drop_after[CIFAR_ARCHIVE] = half
    with pytest.raises(DataError, match=rf"closed after {half:,} of {len(archive):,} bytes; {half:,} bytes kept in "
                                        rf"\.{CIFAR_ARCHIVE}\.part: run again to resume"):
        entry.loader(entry, "test", tmp_path, True)
    assert [(p.name, p.stat().st_size) for p in tmp_path.iterdir()] == [(f".{CIFAR_ARCHIVE}.part", half)]
    images, labels = entry.loader(entry, "test", tmp_path, True)
    assert server.requests == [(CIFAR_ARCHIVE, None), (CIFAR_ARCHIVE, f"bytes={half}-")]
    np.testing.assert_array_equal(images, arrays["test"][0])
    assert [p.name for p in tmp_path.iterdir()] == [CIFAR_ARCHIVE]
    assert (tmp_path / CIFAR_ARCHIVE).read_bytes() == archive


def test_a_server_that_ignores_range_sends_the_whole_file_again(server, tiny_cifar, tmp_path):
    archive, _, arrays = tiny_cifar
    entry = cifar_entry(server, archive)
    server.honour_range = False
    downloads.part_path(tmp_path / CIFAR_ARCHIVE).write_bytes(archive[:100])
    _, labels = entry.loader(entry, "test", tmp_path, True)
    assert server.requests == [(CIFAR_ARCHIVE, "bytes=100-")]
    np.testing.assert_array_equal(labels, arrays["test"][1])
    assert (tmp_path / CIFAR_ARCHIVE).read_bytes() == archive


def test_a_resumed_answer_for_another_range_is_refused_and_the_part_dropped(server, tiny_cifar, tmp_path):
    archive, _, _ = tiny_cifar
    entry = cifar_entry(server, archive)
    server.range_shift = 1
    downloads.part_path(tmp_path / CIFAR_ARCHIVE).write_bytes(archive[:100])
    with pytest.raises(DataError, match=r"asked for bytes 100- and got 'bytes 101-"):
        entry.loader(entry, "test", tmp_path, True)
    assert list(tmp_path.iterdir()) == []


def test_a_complete_part_left_by_a_killed_process_is_verified_and_kept(server, tiny_cifar, tmp_path):
    archive, _, arrays = tiny_cifar
    entry = cifar_entry(server, archive)
    downloads.part_path(tmp_path / CIFAR_ARCHIVE).write_bytes(archive)
    _, labels = entry.loader(entry, "test", tmp_path, True)
    assert server.requests == [(CIFAR_ARCHIVE, f"bytes={len(archive)}-")]  # answered 416: nothing left to send
    np.testing.assert_array_equal(labels, arrays["test"][1])
    assert [p.name for p in tmp_path.iterdir()] == [CIFAR_ARCHIVE]


def test_two_processes_wanting_one_file_take_turns_and_it_is_fetched_once(server, tmp_path):
    server.files["data.bin"] = content = bytes(range(256)) * 64
    server.delay_s = 0.2  # the second caller asks while the first one's answer is pending
    target = tmp_path / "data.bin"
    results = []
    callers = [threading.Thread(target=lambda: results.append(downloads.download(
        [server.url + "data.bin"], target, len(content), out=io.StringIO()))) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=10)
    assert results == [target, target] and server.requests == [("data.bin", None)]
    assert target.read_bytes() == content and [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_a_failed_download_of_mnist_leaves_nothing_behind(server, tmp_path):
    """Neither a partial file nor a folder the download created: a mistyped --data-dir must not appear."""
    mnist = dataclasses.replace(datasets.get_dataset("mnist"), mirrors=(server.url,))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is missing and could not be downloaded .*404"):
        mnist.loader(mnist, "test", tmp_path / "typo" / "cache", True)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    with pytest.raises(DataError, match="could not be downloaded"):
        mnist.loader(mnist, "test", tmp_path / "kept", True)
    assert list(tmp_path.iterdir()) == [tmp_path / "kept"] and list((tmp_path / "kept").iterdir()) == []


def test_mnist_downloads_are_checked_by_their_recorded_sha256(server, tmp_path):
    source = Path(os.environ.get("MNIST_DIR") or datasets.resolve_data_dir())
    if not (source / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip(f"MNIST not found in {source}: set $MNIST_DIR")
    mnist = dataclasses.replace(datasets.get_dataset("mnist"), mirrors=(server.url,))
    for name in mnist.files["test"]:
        server.files[f"{name}.gz"] = (source / f"{name}.gz").read_bytes()
    images, labels = mnist.loader(mnist, "test", tmp_path / "fresh", True)
    assert images.shape == (10_000, 28, 28) and labels[:5].tolist() == [7, 2, 1, 0, 4]
    server.files["t10k-labels-idx1-ubyte.gz"] = gzip.compress(b"not mnist")
    (tmp_path / "fresh" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: SHA-256 mismatch for t10k-labels-idx1-ubyte"):
        mnist.loader(mnist, "test", tmp_path / "fresh", True)
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["t10k-images-idx3-ubyte.gz"]


# --------------------------------------------------------------------------------- files already on the disk

def test_an_extracted_cifar10_is_accepted_only_once_its_sha256_is_recorded(tiny_cifar, tmp_path):
    _, batches, arrays = tiny_cifar
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    (folder / "test_batch.bin").write_bytes(batches["test_batch.bin"])
    with pytest.raises(DataError, match=r"test_batch.bin: no SHA-256 of CIFAR-10's test_batch.bin is recorded to "
                                        rf"check it by; put {CIFAR_ARCHIVE} as published"):
        CIFAR.loader(CIFAR, "test", tmp_path, False)
    recorded = dataclasses.replace(CIFAR, sha256={**CIFAR.sha256, "test_batch.bin": hashlib.sha256(
        batches["test_batch.bin"]).hexdigest()})
    _, labels = recorded.loader(recorded, "test", tmp_path, False)
    np.testing.assert_array_equal(labels, arrays["test"][1])
    (folder / "test_batch.bin").write_bytes(batches["test_batch.bin"][:-1] + b"\x00")
    with pytest.raises(DataError, match="test_batch.bin: SHA-256 mismatch for test_batch.bin"):
        recorded.loader(recorded, "test", tmp_path, False)


def test_an_archive_on_the_disk_is_checked_by_its_md5(server, tiny_fashion, tmp_path):
    files, arrays = tiny_fashion
    entry = fashion_entry(server, files)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    _, labels = entry.loader(entry, "train", tmp_path, False)
    np.testing.assert_array_equal(labels, arrays["train"][1])
    recompressed = gzip.compress(gzip.decompress(files["train-labels-idx1-ubyte.gz"]), compresslevel=1, mtime=1)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(recompressed)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: MD5 mismatch \(got .*\); the file is corrupt"):
        entry.loader(entry, "train", tmp_path, False)
    assert server.requests == []


def test_a_truncated_archive_or_a_torn_record_is_refused(tiny_cifar, tmp_path):
    archive, batches, _ = tiny_cifar
    recorded = dataclasses.replace(CIFAR, sha256={**CIFAR.sha256, "test_batch.bin": hashlib.sha256(
        batches["test_batch.bin"][:-1]).hexdigest()})
    (tmp_path / "test_batch.bin").write_bytes(batches["test_batch.bin"][:-1])
    with pytest.raises(DataError, match=r"test_batch.bin: 9,218 bytes is not a whole number of 3,073-byte CIFAR-10"):
        recorded.loader(recorded, "test", tmp_path, False)
    (tmp_path / CIFAR_ARCHIVE).write_bytes(archive[:len(archive) // 2])
    with pytest.raises(DataError, match=rf"{CIFAR_ARCHIVE}: truncated or unreadable"):
        CIFAR.loader(CIFAR, "test", tmp_path, False)


# ------------------------------------------------------------------------------------------ python -m fetch_data

def test_fetch_data_verifies_and_prints_the_sha256_lines_to_record(server, tiny_cifar, tmp_path, monkeypatch, capsys):
    from benchmark import fetch_data
    archive, batches, _ = tiny_cifar
    monkeypatch.setitem(datasets.DATASETS, "cifar10", cifar_entry(server, archive, sizes={"train": 10, "test": 3}))
    assert fetch_data.main(["cifar10", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"CIFAR-10 in {tmp_path.resolve()}: verified (train 10, test 3 images)"
    assert lines[2:] == [f'    "{name}": "{hashlib.sha256(batches[name]).hexdigest()}",'
                         for name in (*datasets.CIFAR10_TRAIN_BATCHES, "test_batch.bin")]
    del server.files[CIFAR_ARCHIVE]
    assert fetch_data.main(["cifar10", "--data-dir", str(tmp_path / "elsewhere")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error and "404" in error
