"""Progress output: a live bar on a terminal or in a notebook, plain lines when stderr goes to a file or pipe.

Every progress display in betavae goes through :func:`progress_bar`, which takes tqdm's arguments. Redirected
output gets one readable line per update of the postfix (training: one per ``log_every``), at most one line per
``PLAIN_INTERVAL`` seconds otherwise, and a last line when the work ends — never carriage-return frames.
``TQDM_DISABLE=1`` (tqdm's own variable) turns every display off.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

PLAIN_INTERVAL = 10.0  # seconds between plain progress lines when nothing else asks for one


def progress_bar(iterable: Iterable | None = None, *, disable: bool = False, **options: Any):
    """tqdm(iterable, **options), or :class:`PlainProgress` when stderr is neither a terminal nor a notebook."""
    disable = disable or _disabled_by_environment()
    from tqdm.auto import tqdm as auto_tqdm
    from tqdm.autonotebook import tqdm as notebook_or_terminal_tqdm
    from tqdm.std import tqdm as terminal_tqdm

    in_notebook = notebook_or_terminal_tqdm is not terminal_tqdm
    if disable or in_notebook or _is_terminal(sys.stderr):
        return auto_tqdm(iterable, disable=disable, **options)
    return PlainProgress(iterable, **options)


def _disabled_by_environment() -> bool:
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def _is_terminal(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class PlainProgress:
    """The part of tqdm's interface betavae uses, written as whole lines: ``desc: n/total unit (p%), t, postfix``."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, initial: int = 0,
                 desc: str | None = None, unit: str = "it", **_ignored: Any):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.n, self.initial = total, initial, initial
        self.desc, self.unit, self.postfix = desc or "progress", unit, ""
        self.start = self.last_line = time.monotonic()
        self.written_n: int | None = None
        self.line_due = self.closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.line_due or time.monotonic() - self.last_line >= PLAIN_INTERVAL:
            self._write(with_postfix=self.line_due)

    def set_postfix(self, **values: Any) -> None:
        """New figures to report: written with the count of the next update (tqdm's callers update after)."""
        self.postfix = ", ".join(f"{name}={value}" for name, value in values.items())
        self.line_due = True

    def close(self) -> None:
        if not self.closed and self.n != self.initial and self.written_n != self.n:
            self._write()
        self.closed = True

    def _write(self, with_postfix: bool = True) -> None:
        """One line; the postfix only where it is new (or last), so that slow runs do not repeat stale figures."""
        from tqdm.std import tqdm

        self.last_line, self.written_n, self.line_due = time.monotonic(), self.n, False
        elapsed = self.last_line - self.start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)"
                 if self.total else f"{self.desc}: {self.n} {self.unit}", f"{tqdm.format_interval(elapsed)} elapsed"]
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"{tqdm.format_interval((self.total - self.n) / rate)} left")
        parts.append(f"{rate:.3g} {self.unit}/s")
        sys.stdout.flush()  # stdout and stderr redirected to one file: keep the lines in the order they happened
        print(", ".join(parts + ([self.postfix] if self.postfix and with_postfix else [])), file=sys.stderr,
              flush=True)
