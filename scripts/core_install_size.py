"""Size of the current environment's installation and proof that no extra came with it.

Run with the interpreter of a virtualenv holding a core install (`pip install .`, no extras),
as `make test-lowest` does: prints the megabytes of every installed distribution, largest
first, and their total; exits 1 when a module of an optional extra can be imported or when
the total is over MAX_MB.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib import metadata
from pathlib import Path

from abkit.cli.extras import EXTRA_MODULES

# The core at its floors is about 350 MB: numpy, scipy and polars (the frame engine of events
# validation, bulk assignment and simulate) are 270 MB of it. The limit leaves room for patch
# releases but not for another engine: duckdb and pyarrow (190 MB together) went to the duckdb
# extra, and a dependency of that size coming back to the core should fail here, not ship.
# Measured at the lowest versions (make test-lowest); newer polars releases are about 80 MB bigger.
MAX_MB = 400


def distribution_sizes() -> dict[str, int]:
    """Bytes on disk of each installed distribution (the files its RECORD lists)."""
    sizes: dict[str, int] = {}
    for distribution in metadata.distributions():
        total = 0
        for file in distribution.files or []:
            path = Path(str(distribution.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
        sizes[distribution.metadata["Name"]] = total
    return sizes


def main() -> int:
    sizes = distribution_sizes()
    for name, size in sorted(sizes.items(), key=lambda item: -item[1]):
        print(f"{size / 1e6:8.1f} MB  {name}")
    total_mb = sum(sizes.values()) / 1e6
    print(f"{total_mb:8.1f} MB  in all ({len(sizes)} distributions)")
    status = 0
    if total_mb > MAX_MB:
        print(f"error: the core install is {total_mb:.0f} MB, over its limit of {MAX_MB} MB", file=sys.stderr)
        status = 1
    leaked = sorted(
        f"{module} ({extra})"
        for extra, modules in EXTRA_MODULES.items()
        for module in modules
        if importlib.util.find_spec(module) is not None
    )
    if leaked:
        print(f"error: the core install brings modules of optional extras: {', '.join(leaked)}", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
