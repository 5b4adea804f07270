"""One keyed result store: computed results kept in a JSON file under the hash of what decides their numbers.

A key is the SHA-256 (16 hex digits) of an *identity*: code version, settings, seeds, data identity, the run's
config and step — never an absolute path, so moving a folder keeps its results. An entry is computed once: a
later call with the same identity reads it back, a changed identity (a new version, other settings) computes a
new entry beside the old ones. Writes re-read and merge under a file lock, so several processes may add entries
to one file at once (Ray tasks scoring steps of one run), and each write is atomic (temp, fsync, rename). Every
entry carries its provenance: versions, git commit, host, pid and when it was stored.

Run evaluations (``RUN/eval.json``, entries under ``"metrics"``), the training curve's KL probes and the metric
sensitivity's scores all live in such files.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from betavae.errors import BetaVAEError
from betavae.io import atomic_write_json, file_lock, read_json, remove_temp_files, set_aside


def result_key(identity: dict[str, Any]) -> str:
    """16 hex digits of the SHA-256 of ``identity`` as sorted JSON (tuples and lists hash alike)."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ResultStore:
    """The entries of one JSON file ``{"version": V, SECTION: {key: entry}}``.

    The file is a cache: a damaged one (not JSON, not this layout, an entry ``entry_problem`` finds wrong) is set
    aside as ``NAME.damaged``, its bytes kept, and read as empty, so that its results are computed again."""

    def __init__(self, path: str | Path, section: str = "entries", version: int = 1,
                 entry_problem: Callable[[Any], str | None] | None = None):
        self.path, self.section, self.version = Path(path), section, version
        self.entry_problem = entry_problem or (lambda entry: None if isinstance(entry, dict) else "not an object")

    def read(self) -> dict[str, Any]:
        """The file's content (empty if it does not exist or was set aside as damaged)."""
        with file_lock(self.path):
            return self._read_locked()

    def _read_locked(self) -> dict[str, Any]:
        empty = {"version": self.version, self.section: {}}
        if not self.path.exists():
            return empty
        try:
            stored = read_json(self.path)
            problem = self._problem(stored)
        except BetaVAEError as error:
            problem = str(error).removeprefix(str(self.path)).split(";")[0].strip()
        if problem:
            set_aside(self.path, "damaged", f"is damaged ({problem}); its results are computed again")
            return empty
        stored.setdefault(self.section, {})
        stored["version"] = self.version
        return stored

    def _problem(self, stored: Any) -> str | None:
        """What makes ``stored`` no result file of this layout, or None."""
        if not isinstance(stored, dict) or not isinstance(stored.get(self.section, {}), dict):
            return f"it holds {json.dumps(stored)[:40]}, not {{version, {self.section}: {{key: entry}}}}"
        for key, entry in stored.get(self.section, {}).items():
            wrong = self.entry_problem(entry)
            if wrong:
                return f"its entry {key[:20]!r} is {wrong}"
        return None

    def entries(self) -> dict[str, dict[str, Any]]:
        return self.read()[self.section]

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries().get(key)

    def put(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Store ``entry`` (with its provenance) under ``key``, merged into the file as it is now."""
        from betavae.io import provenance

        stored_entry = {**entry, "provenance": {**provenance(), "host": platform.node(), "pid": os.getpid(),
                                                "time": time.time()}}
        with file_lock(self.path):
            remove_temp_files(self.path)  # of a writer killed midway: no one else writes it now
            current = self._read_locked()  # another process may have added entries since this one read the file
            current[self.section][key] = stored_entry
            atomic_write_json(self.path, current)
        return stored_entry

    def get_or_compute(self, identity: dict[str, Any], compute: Callable[[], Any]) -> Any:
        """The value stored for ``identity``, else ``compute()``'s, stored (as ``{"identity", "value"}``)."""
        key = result_key(identity)
        entry = self.get(key)
        if entry is None:
            entry = self.put(key, {"identity": identity, "value": compute()})
        return entry["value"]
