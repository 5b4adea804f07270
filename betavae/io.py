"""Atomic writes, run directories and provenance (config, seed, versions, git commit)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from betavae.errors import BetaVAEError


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write a file so that readers see either the old or the complete new content.

    ``write`` receives a binary file object in the same directory; it is flushed, fsynced and
    renamed over ``path`` only after ``write`` returns without error.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = temp_file_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(path.parent)
    return path


def temp_file_beside(path: Path) -> tuple[int, str]:
    """A new temporary file next to ``path`` (same filesystem, so it can be renamed over it), as (fd, name).

    ``mkstemp`` creates it 0600; it gets the mode a plain ``open()`` would give, 0666 less the umask, so the
    renamed result is as readable as any other file the user creates.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    return fd, name


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows (Linux); else set and restored once."""
    global _UMASK_FALLBACK
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    if _UMASK_FALLBACK is None:  # os.umask can only be read by setting it: do that once, restore at once
        _UMASK_FALLBACK = os.umask(0o022)
        os.umask(_UMASK_FALLBACK)
    return _UMASK_FALLBACK


_UMASK_FALLBACK: int | None = None


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``path`` exclusively (waiting for it): for read-modify-write of a file that several
    processes may update at once, e.g. a run's eval.json scored by two Ray tasks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    import torch

    return atomic_write(path, lambda handle: torch.save(obj, handle))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BetaVAEError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise BetaVAEError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); fix or delete it") from None
    except UnicodeDecodeError:
        raise BetaVAEError(f"{path} is not valid JSON (it holds bytes that are not UTF-8 text); fix or delete it"
                           ) from None
    except OSError as exc:
        raise BetaVAEError(f"cannot read {path} ({exc.strerror}); check that it is a readable file") from None


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` if needed and check that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as exc:
        raise BetaVAEError(
            f"cannot write to output directory {path} ({exc.strerror}); choose another --out or fix its permissions"
        ) from None
    return path


def notice(message: str) -> None:
    """Tell the user something they should know that is not an error (on stderr, beside the progress bar)."""
    print(f"note: {message}", file=sys.stderr)


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record, default=_json_default) + "\n")


def git_commit() -> str | None:
    """The commit of the betavae source tree, with '-dirty' if it has local changes; None outside git."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict[str, Any]:
    """Versions, platform and git commit: recorded beside every result."""
    import numpy
    import torch

    import betavae

    versions = {"betavae": betavae.__version__, "python": platform.python_version(),
                "torch": torch.__version__, "numpy": numpy.__version__}
    try:
        import sklearn

        versions["scikit-learn"] = sklearn.__version__
    except ImportError:
        pass
    return {
        "versions": versions,
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "command": os.environ.get(COMMAND_ENV) or command_line(),
    }


COMMAND_ENV = "BETAVAE_COMMAND"  # set in Ray tasks: the command that started the sweep, not the Ray worker's


def command_line() -> str:
    """This process's command, e.g. ``betavae reproduce fig6-table --budget cpu``."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
