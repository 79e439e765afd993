"""``python -m benchmark.report OUT [--parity-dir DIR]``: (re)write a suite folder's report."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark import devices
from benchmark.report.build import build_report
from benchmark.report.sections import DEFAULT_PARITY_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.report", description=__doc__.split("\n")[0])
    parser.add_argument("out", help="suite folder (results/NAME)")
    parser.add_argument("--parity-dir", help=f"lockstep parity results (default: {DEFAULT_PARITY_DIR})")
    parser.add_argument(devices.ALLOW_FLAG, action="store_true",
                        help="report even when the timings come from different device models")
    args = parser.parse_args(argv)
    if not Path(args.out).is_dir():
        print(f"error: {args.out} is not a folder", file=sys.stderr)
        return 2
    try:
        paths = build_report(args.out, args.parity_dir, args.allow_mixed_devices)
    except devices.MixedDevicesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"report: {paths['markdown']} and {paths['html']}; {paths['csv']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
