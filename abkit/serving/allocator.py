"""glibc malloc settings for a process that runs forward passes on the CPU.

A forward pass allocates its activations afresh: at 512 tokens a batch of 30 on the tiny
bench model asks for tensors of one to sixteen megabytes, dozens of them. glibc serves such
requests with ``mmap`` above its mmap threshold (128 KiB at start, raised as chunks are
freed, never past 32 MiB) and hands the memory back with ``munmap`` when the tensor dies; the
heap's free top is likewise trimmed back to the kernel past its trim threshold. The next
pass then touches fresh pages, and the kernel zero-fills each one in a minor page fault:
4,900-19,000 faults a batch in that model, a different count in every process (over four
fresh processes; ``bench/bench_malloc.py``), and 13% of the batch's time at the median. That
was the "drift" of 7-20% between two identical model processes that earlier benchmark runs
in docs/serving.md report.

:func:`keep_freed_memory` fixes both thresholds (``mallopt``, which also turns off the
dynamic adjustment): allocations up to 32 MiB come from the heap and freed memory stays in
the process for the next pass. The process then holds its peak working set, which in a
server with capped batches is what it needs again at the next busy moment. Tensors above
32 MiB (a large model's activations on a big batch) are still mapped per allocation;
glibc does not allow a higher threshold.

Memory freed while a model loads (a checkpoint read into host tensors on its way to a GPU,
say) would stay too, up to the trim threshold: :func:`release_free_memory` hands it back
once, after loading and warming up, before the first batch.

Settings given in the environment (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
or the same tunables in ``GLIBC_TUNABLES``) are the operator's and are left alone, as is
any C library other than glibc (musl, macOS: nothing is set).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# mallopt parameter numbers, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MIB = 1024 * 1024
# glibc refuses a larger mmap threshold (HEAP_MAX_SIZE / 2 on 64-bit).
MMAP_THRESHOLD = 32 * MIB
# The heap's free top goes back to the kernel only past this: far above any batch's working set.
TRIM_THRESHOLD = 1024 * MIB
ENVIRONMENT_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
TUNABLES = ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold")


@dataclass(frozen=True)
class AllocatorSettings:
    """What :func:`keep_freed_memory` did to this process's allocator."""

    applied: bool
    detail: str  # what was set, or why nothing was

    def to_dict(self) -> dict[str, object]:
        return {"applied": self.applied, "detail": self.detail}


def environment_setting(environ: Mapping[str, str]) -> str | None:
    """The name of the malloc threshold setting ``environ`` gives glibc, if it gives one."""
    for name in ENVIRONMENT_SETTINGS:
        if name in environ:
            return name
    tunables = environ.get("GLIBC_TUNABLES", "")
    for tunable in TUNABLES:
        if tunable in tunables:
            return f"GLIBC_TUNABLES {tunable}"
    return None


def _glibc() -> ctypes.CDLL | None:
    """This process's C library if it is glibc, else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (present in glibc only)
    except (OSError, AttributeError):
        return None
    return libc


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt`` in this process, or None under another C library."""
    libc = _glibc()
    if libc is None:
        return None
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def keep_freed_memory(environ: Mapping[str, str] | None = None) -> AllocatorSettings:
    """Make glibc keep freed memory for reuse instead of mapping fresh pages for every tensor.

    Call it once, early in a process that runs forward passes on the CPU (the model process,
    ``abkit serve --in-process``, ``abkit tune-batching``); it affects later allocations of
    the whole process. Harmless on a GPU, whose tensors do not come from malloc.

    Args:
        environ: the environment to look for operator settings in (``os.environ`` by default).
    """
    given = environment_setting(os.environ if environ is None else environ)
    if given is not None:
        return AllocatorSettings(False, f"left as {given} sets it")
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return AllocatorSettings(False, "not glibc: the C library's own policy is kept")
    if not (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return AllocatorSettings(False, "glibc refused the thresholds")
    return AllocatorSettings(
        True,
        f"glibc keeps freed memory: mmap threshold {MMAP_THRESHOLD // MIB} MiB, trim threshold {TRIM_THRESHOLD // MIB} MiB",
    )


def release_free_memory() -> bool:
    """Hand the heap's free memory back to the kernel now (glibc's ``malloc_trim(0)``).

    For the moment a process has finished loading: what loading freed goes back, and what the
    batches after it free is kept again. Returns whether memory was released (False under
    another C library, or when there was nothing to release).
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    libc.malloc_trim.restype = ctypes.c_int
    return bool(libc.malloc_trim(0))
