"""Write files so that a reader never sees half of one: temp file in the same folder, then rename."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path next to `path` (same suffix, so writers that go by it still work); on success
    it is fsynced and renamed onto `path`.

    On any exception (Ctrl-C included) the temp file is removed and `path` is untouched.
    """
    path = Path(path)
    temp = path.with_name(f".{path.stem}{TEMP_MARK}{os.getpid()}{path.suffix}")
    try:
        yield temp
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """`text` at `path` (its folder made if missing), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        temp.write_text(text)
    return path


def write_json(path: str | Path, data) -> Path:
    """`data` as indented JSON at `path` (its folder made if missing), written atomically."""
    return write_text(path, json.dumps(data, indent=1) + "\n")


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete temp files an earlier, killed writer left in `folder`; returns what was removed."""
    stale = [p for p in Path(folder).glob(f".*{TEMP_MARK}*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
