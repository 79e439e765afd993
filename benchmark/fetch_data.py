"""Fetch and verify a data set of the registry, and print the SHA-256 of its decompressed files.

    python -m benchmark.fetch_data NAME [--data-dir DIR]

Downloads what is missing (``benchmark.datasets``: the mirrors, a progress line, resumed when interrupted),
checks every file and both splits' shapes, and prints the SHA-256 lines that ``benchmark/datasets.py`` records
for the entry: with them recorded, a data set whose archives are checked by their published MD5 (Fashion-MNIST,
CIFAR-10) is checked by its contents instead, and decompressed copies of its files are accepted too.
"""
from __future__ import annotations

import argparse
import hashlib
import sys

from benchmark import datasets, runs
from benchmark.datasets import DataError


def fetch(name: str, data_dir: str | None = None) -> list[str]:
    """The report lines: where the verified data set is, its split sizes, and each file's ``"name": "sha256"``."""
    entry = datasets.get_dataset(name)
    directory = datasets.resolve_data_dir(data_dir, name).resolve()
    counts = {split: len(datasets.load_dataset(split, directory, dataset=name)[1]) for split in entry.files}
    files = tuple(file for split_files in entry.files.values() for file in split_files)
    digests = [hashlib.sha256(content).hexdigest() for content in datasets.read_files(entry, files, directory, False)]
    sizes = ", ".join(f"{split} {count:,}" for split, count in counts.items())
    return [f"{entry.title} in {directory}: verified ({sizes} images)",
            f"SHA-256 of the decompressed files (the {name!r} entry's sha256 in benchmark/datasets.py):",
            *(f'    "{file}": "{digest}",' for file, digest in zip(files, digests))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.fetch_data", description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=tuple(datasets.DATASETS), help="the data set")
    parser.add_argument("--data-dir", help="its folder (default: its environment variable, else the user cache)")
    args = parser.parse_args(argv)
    try:
        print("\n".join(fetch(args.name, args.data_dir)))
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return runs.EXIT_USAGE
    return runs.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
