"""``python -m benchmark.report OUT [--parity-dir DIR]``: (re)write a suite folder's report."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.report.build import build_report
from benchmark.report.sections import DEFAULT_PARITY_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.report", description=__doc__.split("\n")[0])
    parser.add_argument("out", help="suite folder (results/NAME)")
    parser.add_argument("--parity-dir", help=f"lockstep parity results (default: {DEFAULT_PARITY_DIR})")
    args = parser.parse_args(argv)
    if not Path(args.out).is_dir():
        print(f"error: {args.out} is not a folder", file=sys.stderr)
        return 2
    paths = build_report(args.out, args.parity_dir)
    print(f"report: {paths['markdown']} and {paths['html']}; {paths['csv']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
