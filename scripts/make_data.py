"""Write the notebooks' bundled synthetic tables (no real person is in them).

    python scripts/make_data.py                 # notebooks/data/patients.csv and transactions.csv
    python scripts/make_data.py --patients 100000 --out /tmp/big

The tables come from ``jupyter_privacy.datasets``; the same arguments give the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jupyter_privacy.datasets import write_bundled

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "notebooks" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5_000, help="patient rows (5000)")
    parser.add_argument(
        "--customers", type=int, default=800, help="customers in transactions (800)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder (notebooks/data)")
    args = parser.parse_args(argv)
    for path in write_bundled(args.out, args.patients, args.customers):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
