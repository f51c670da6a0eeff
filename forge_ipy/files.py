"""Small file helpers shared by the cache, the selection state and the credential store."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def atomic_write(path: Path, text: str, *, private: bool = False) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new, never half.

    `private` files are readable by their owner only (mode 0600) from the first byte.
    """
    import tempfile  # writers only: readers, shell completion among them, never need it

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
