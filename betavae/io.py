"""Atomic writes, run directories and provenance (config, seed, versions, git commit)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from betavae.errors import BetaVAEError, DiskFullError
from betavae.resources import format_bytes, free_space


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], size: int | None = None) -> Path:
    """Write a file so that readers see either the old or the complete new content.

    ``write`` receives a binary file object in the same directory; it is flushed, fsynced and
    renamed over ``path`` only after ``write`` returns without error. A full disk raises :class:`DiskFullError`
    naming ``path`` and the space it needs (``size`` bytes when the caller knows or estimates it), the old file kept.
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
    except BaseException as error:
        written = _size_of(tmp_name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if is_disk_full(error):
            raise disk_full(path, size, written) from None
        raise
    _fsync_directory(path.parent)
    return path


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says that a write found no space: ENOSPC or EDQUOT, or torch's zip writer's "unexpected pos"
    (it raises that, hiding the errno, when the file it writes to takes fewer bytes than it gave)."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(error, RuntimeError) and "unexpected pos" in str(error)


def disk_full(path: Path, size: int | None, written: int = 0) -> DiskFullError:
    """The one-line error for ``path`` that did not fit: the space it needs (``size``, else more than ``written``)."""
    needed = f"about {format_bytes(size)}" if size is not None else f"more than {format_bytes(written)}"
    kept = f"the previous {path.name} is kept" if path.exists() else "nothing was written"
    return DiskFullError(f"{os.strerror(errno.ENOSPC)} for {path}: it needs {needed}, the disk has "
                         f"{format_bytes(free_space(path.parent))} free ({kept})",
                         "free some space there, or write elsewhere, and run the command again")


def _size_of(name: str) -> int:
    try:
        return os.stat(name).st_size
    except OSError:
        return 0


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
    return atomic_write(path, lambda handle: handle.write(data), size=len(data))


def atomic_write_buffered(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """:func:`atomic_write` of a small file (a figure) made in memory first, so that a full disk is reported with the
    exact space it needs."""
    buffer = io.BytesIO()
    write(buffer)
    return atomic_write_bytes(path, buffer.getvalue())


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


def atomic_torch_save(path: str | Path, obj: Any, size: int | None = None) -> Path:
    import torch

    return atomic_write(path, lambda handle: torch.save(obj, handle), size)


def remove_temp_files(path: Path) -> None:
    """Delete the temporary files that killed writes to ``path`` left beside it (``path``'s name may hold a glob
    ``*``); call only while no other process writes it (holding its lock)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


@contextlib.contextmanager
def writing(path: str | Path, *others: str | Path) -> Iterator[None]:
    """Hold ``path``'s lock while it (and ``others`` beside it) are written, having removed the temporary files a
    killed writer left; where the folder cannot be written, nothing is to clean and the write itself will say so."""
    path = Path(path)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        yield
        return
    with file_lock(path):
        for target in (path, *map(Path, others)):
            remove_temp_files(target)
        yield


def set_aside(path: str | Path, suffix: str, why: str) -> Path:
    """Rename ``path`` to ``NAME.SUFFIX`` (``NAME.SUFFIX-2``, … if taken), its bytes kept for the user, and say so
    with ``why`` (e.g. "is damaged (it holds a list)"); return where it went."""
    path = Path(path)
    target, number = path.with_name(f"{path.name}.{suffix}"), 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.{suffix}-{number}")
    try:
        os.replace(path, target)
    except OSError as error:
        raise BetaVAEError(f"{path} {why}, and it cannot be set aside as {target.name} ({error.strerror}); move it "
                           "away yourself") from None
    notice(f"{path} {why}; set aside as {target.name}")
    return target


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def read_json(path: str | Path, what: str = "", fix: str = "fix or delete it") -> Any:
    """The JSON value in ``path``; any file that is not readable JSON (also numbers longer than Python reads, or
    arrays nested past its recursion limit) raises one error naming ``what`` (e.g. "config file") and ``fix``."""
    path = Path(path)
    name = f"{what} {path}".strip()
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BetaVAEError(f"{name} does not exist") from None
    except json.JSONDecodeError as exc:
        raise BetaVAEError(f"{name} is not valid JSON ({exc.msg} at line {exc.lineno}); {fix}") from None
    except UnicodeDecodeError:
        raise BetaVAEError(f"{name} is not valid JSON (it holds bytes that are not UTF-8 text); {fix}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise BetaVAEError(f"{name} holds a value that cannot be read ({str(exc).split(';')[0]}); {fix}") from None
    except RecursionError:
        raise BetaVAEError(f"{name} nests arrays or objects too deeply to be read; {fix}") from None
    except OSError as exc:
        raise BetaVAEError(f"cannot read {name} ({exc.strerror}); check that it is a readable file") from None


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


def ensure_writable_file(path: str | Path, option: str) -> Path:
    """Check, before any work, that a file can be written at ``path`` (given with ``option``): not a folder, its folder
    writable (created if needed)."""
    path = Path(path)
    if path.is_dir():
        raise BetaVAEError(f"{option} {path} is a directory; give the path of a file to write, e.g. "
                           f"{path / 'out.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp").close()
    except OSError as exc:
        raise BetaVAEError(f"cannot write {option} {path} ({exc.strerror}); choose another path or fix its "
                           "permissions") from None
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
