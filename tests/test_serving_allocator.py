"""abkit.serving.allocator: glibc keeps freed memory; operator settings and other C libraries win.

The page-fault checks run in child interpreters, since the settings change the whole process.
"""

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from abkit.serving.allocator import AllocatorSettings, environment_setting, keep_freed_memory

on_glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings are glibc's")

# 96 tensors of 1 MiB alive together, then all freed: 96 MiB at the heap's top. glibc's dynamic
# trim threshold is at most twice its largest mmap threshold (2 x 32 MiB), so by default the
# top is handed back to the kernel after every pass and the next pass faults its 24,576 pages
# (96 MiB / 4 KiB) in afresh; with the trim threshold at 1 GiB the pages stay.
FAULTS_PER_PASS = """
    import json, resource, sys
    import torch
    from abkit.serving.allocator import keep_freed_memory

    settings = keep_freed_memory() if sys.argv[1] == "keep" else None

    def one_pass():
        held = [torch.ones(256 * 1024) for _ in range(96)]  # float32: 1 MiB each, every page written
        del held

    for _ in range(3):
        one_pass()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        one_pass()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
    print(json.dumps({"faults_per_pass": faults, "applied": settings.applied if settings else None}))
"""


def _faults_per_pass(policy: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FAULTS_PER_PASS), policy],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@on_glibc
def test_kept_memory_is_reused_where_glibc_hands_it_back_and_faults_it_in_again():
    default, kept = _faults_per_pass("default"), _faults_per_pass("keep")
    assert kept["applied"] is True
    assert default["faults_per_pass"] > 10_000  # most of the 24,576 pages, every pass
    assert kept["faults_per_pass"] < 1_000


@on_glibc
def test_what_was_set_is_reported():
    code = "from abkit.serving.allocator import keep_freed_memory; print(keep_freed_memory().detail)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == "glibc keeps freed memory: mmap threshold 32 MiB, trim threshold 1024 MiB"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MALLOC_MMAP_THRESHOLD_": "65536"}, "MALLOC_MMAP_THRESHOLD_"),
        ({"MALLOC_TRIM_THRESHOLD_": "0"}, "MALLOC_TRIM_THRESHOLD_"),
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, "GLIBC_TUNABLES glibc.malloc.trim_threshold"),
        (
            {"GLIBC_TUNABLES": "glibc.rtld.nns=2:glibc.malloc.mmap_threshold=1"},
            "GLIBC_TUNABLES glibc.malloc.mmap_threshold",
        ),
    ],
)
def test_the_operators_settings_are_left_alone(environ, named):
    assert environment_setting(environ) == named
    # Returns before touching the allocator, so this is safe in the test process itself.
    assert keep_freed_memory(environ) == AllocatorSettings(False, f"left as {named} sets it")


def test_unrelated_settings_do_not_count_as_the_operators():
    assert environment_setting({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0", "MALLOC_ARENA_MAX": "2"}) is None
    assert environment_setting({}) is None
