"""Small file helpers shared by the cache, the selection state, the credential store, the
settings and shell completion: the one way forge-ipy reads and writes its own files and JSON.

Reading never trusts what is at a path (a damaged home folder, a named pipe, a folder, a file
of gigabytes): `read_regular` opens without blocking, reads regular files only and bounds the
size; `read_json` also survives deep nesting and NaN. Writing replaces atomically,
follows a symlink to its target (dotfile managers keep their link) and sweeps temporary files
that killed writers left behind. JSON forge-ipy writes, to files or stdout, goes through
`to_json`: strict, never NaN. Standard library only: shell completion imports it.
"""

from __future__ import annotations

import os
import stat

# typing, pathlib and contextlib are not imported at run time: a TAB reads through this
# module (`read_regular`), and only writers need the others.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

SMALL_FILE_BYTES = 1 << 20  # state.json, credentials.json, config.toml: a few KB in practice
CACHE_FILE_BYTES = 128 << 20  # models.json: far above any real cache; bigger is damage
TEMP_MAX_AGE_SECONDS = 600.0  # a writer takes milliseconds; older temp files are orphans
FOLDER_MODE = 0o700


class DamagedFileError(ValueError):
    """A file that is there but cannot be used: not a regular file, too big, not UTF-8,
    not JSON. The message says what is wrong, without the path (callers name the file)."""


def read_regular(path: Path | str, limit: int = SMALL_FILE_BYTES) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them.

    Raises FileNotFoundError when nothing is there, DamagedFileError for a named pipe, a
    folder, a device or a file over `limit`, OSError when it cannot be opened. Never blocks:
    O_NONBLOCK makes opening a named pipe return at once, and it is refused before any read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DamagedFileError("is not a regular file")
        if info.st_size > limit:
            raise DamagedFileError(f"is larger than {limit} bytes")
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):  # a file still growing
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise DamagedFileError(f"is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def parse_json(data: bytes | str) -> Any:
    """JSON from one of our files, forgivingly: NaN and Infinity read as null; raises
    DamagedFileError for text that is not UTF-8 JSON, holds an integer of thousands of digits,
    or is nested too deep for the parser.

    Numbers are parsed by json's C scanner as usual (a hook per number would triple the time
    shell completion spends here): readers compare them with bounds before any arithmetic,
    which Python does exactly for a 400-digit integer or 1e999.
    """
    import json

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=lambda _: None)
    except UnicodeDecodeError:
        raise DamagedFileError("is not UTF-8 text") from None
    except RecursionError:
        raise DamagedFileError("is nested too deeply") from None
    except ValueError as exc:
        raise DamagedFileError(f"is not JSON ({exc})") from None


def to_json(value: Any, **options: Any) -> str:
    """`json.dumps(value, **options)`, strict: a non-finite number (which would print as
    NaN or Infinity, not JSON) becomes null."""
    import json

    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:  # rare: only a NaN or an infinity that slipped through costs a copy
        return json.dumps(_finite(value), allow_nan=False, **options)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if value - value == 0 else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def read_json(path: Path | str, limit: int = SMALL_FILE_BYTES) -> Any:
    """`parse_json` of `read_regular(path, limit)`: the same errors as both."""
    return parse_json(read_regular(path, limit))


def make_folder(folder: Path) -> None:
    """Create `folder` (and its parents) readable by its owner only, if it is missing."""
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)


def atomic_write(path: Path, text: str, *, private: bool = False) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new, never half.

    A symlink at `path` keeps being one: its target is replaced. `private` files are readable
    by their owner only (mode 0600) from the first byte.
    """
    import contextlib
    import tempfile  # writers only: readers, shell completion among them, never need it
    from pathlib import Path

    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    make_folder(target.parent)
    sweep_temp_files(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def sweep_temp_files(path: Path, max_age: float = TEMP_MAX_AGE_SECONDS) -> None:
    """Remove `.<name>.*.tmp` beside `path` older than `max_age`: left by a killed writer."""
    import contextlib
    import time

    prefix, now = f".{path.name}.", time.time()
    with contextlib.suppress(OSError), os.scandir(path.parent) as found:
        for entry in found:
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                continue
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > max_age:
                    os.unlink(entry.path)
