"""Memory and disk space, estimated before work that needs a lot of either, so that it is refused up front."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from betavae.errors import BetaVAEError


def format_bytes(count: float) -> str:
    """``1536`` → ``"1.5 KB"`` (powers of 1024, as free and df print them)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if abs(count) < 1024 or unit == "PB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def available_memory() -> int:
    """Bytes of memory this machine can still give without swapping (Linux's MemAvailable; else the free pages)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(needed: float, what: str, fix: str) -> None:
    """Refuse ``what`` when it would need more memory than is available, naming both figures and ``fix``."""
    available = available_memory()
    if needed > available:
        raise BetaVAEError(f"{what} would need about {format_bytes(needed)} of memory but {format_bytes(available)} "
                           f"is available; {fix}")


def free_space(folder: str | Path) -> int:
    """Bytes free for this user on the filesystem that holds ``folder`` (or its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free
