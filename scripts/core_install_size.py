"""Size of the current environment's installation and proof that no extra came with it.

Run with the interpreter of a virtualenv holding a core install (`pip install .`, no extras),
as `make test-lowest` does: prints the megabytes of every installed distribution, largest
first, and their total; exits 1 when a module of an optional extra can be imported.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib import metadata
from pathlib import Path

from abkit.cli.extras import EXTRA_MODULES


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
    print(f"{sum(sizes.values()) / 1e6:8.1f} MB  in all ({len(sizes)} distributions)")
    leaked = sorted(
        f"{module} ({extra})"
        for extra, modules in EXTRA_MODULES.items()
        for module in modules
        if importlib.util.find_spec(module) is not None
    )
    if leaked:
        print(f"error: the core install brings modules of optional extras: {', '.join(leaked)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
