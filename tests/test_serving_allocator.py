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

# Three buffers of 24 MiB alive together, written, then all freed: a forward pass's activations in
# miniature. By default glibc maps the first with mmap and then raises its dynamic thresholds to
# that size (mmap threshold 24 MiB, trim threshold twice that); later buffers come from the heap,
# and the 72 MiB free at its top pass the trim threshold, so each pass hands them back to the
# kernel and the next faults their 18,432 pages (3 x 24 MiB / 4 KiB) in afresh. With the trim
# threshold at 1 GiB the pages stay for the next pass. The C library's malloc is called directly,
# so that nothing but glibc's policy decides (seen here: 18,400-18,435 faults a pass by default,
# 0 after the first pass with the settings, the same in every run).
FAULTS_PER_PASS = """
    import ctypes, json, resource, sys
    from abkit.serving.allocator import keep_freed_memory, release_free_memory

    settings = keep_freed_memory() if sys.argv[1] != "default" else None
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    SIZE = 24 * 1024 * 1024

    def one_pass():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        buffers = [libc.malloc(SIZE) for _ in range(3)]
        for buffer in buffers:
            ctypes.memset(buffer, 1, SIZE)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        for buffer in buffers:
            libc.free(buffer)
        return faults

    one_pass()  # the first pass faults its pages in either way
    faults = [one_pass() for _ in range(4)]
    released = None
    if sys.argv[1] == "release":  # hand the kept pages back: the next pass faults them in again
        released = release_free_memory()
        faults = [one_pass()]
    print(json.dumps({"faults": faults, "applied": settings.applied if settings else None, "released": released}))
"""


def _environment_without_malloc_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}


def _faults_per_pass(policy: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FAULTS_PER_PASS), policy],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=_environment_without_malloc_settings(),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@on_glibc
def test_kept_memory_is_reused_where_glibc_hands_it_back_and_faults_it_in_again():
    default, kept = _faults_per_pass("default"), _faults_per_pass("keep")
    assert kept["applied"] is True
    assert min(default["faults"]) > 15_000  # nearly all of the 18,432 pages, every pass
    assert max(kept["faults"]) < 100


@on_glibc
def test_released_memory_goes_back_to_the_kernel():
    released = _faults_per_pass("release")
    assert released["applied"] is True and released["released"] is True
    assert released["faults"][0] > 15_000


@on_glibc
def test_what_was_set_is_reported():
    code = "from abkit.serving.allocator import keep_freed_memory; print(keep_freed_memory().detail)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=_environment_without_malloc_settings(),
    )
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
