"""The rules of the model cache's files, kept once: names, schema, and when an entry counts.

Two readers follow them: cache.py (the full path, which builds `Model`s) and complete.py (shell
completion, which must start in milliseconds). So this module imports nothing, and the fast
path calls the very same functions the full path does; docs/cache-format.md describes the
files for people.
"""

from __future__ import annotations

# typing is not imported at run time: shell completion starts here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA = 2
FILE_NAME = "models.json"
# The names index beside it: each entry's fingerprint, fetch time and the names completion
# offers, rewritten by every write of models.json (see `names_index`).
INDEX_NAME = "names.txt"
CLOCK_SKEW_SECONDS = 300.0  # how far ahead of ours another machine's clock may be
NAME_CHARS = 300  # no one types, or wants offered, a longer name (as text.NAME_CHARS)

# What a file's top level says (`file_verdict`).
CURRENT, OLDER, NEWER, CORRUPT = "current", "older", "newer", "corrupt"


def file_verdict(data: object) -> tuple[str, dict[str, Any]]:
    """(CURRENT, the raw entries) for a usable file; else (OLDER | NEWER | CORRUPT, {})."""
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, int) or isinstance(schema, bool):
        return CORRUPT, {}
    if schema > SCHEMA:
        return NEWER, {}
    if schema < SCHEMA:
        return OLDER, {}
    entries = data.get("entries")  # type: ignore[union-attr]
    return (CURRENT, entries) if isinstance(entries, dict) else (CORRUPT, {})


def usable_fetch_time(value: object, now: float) -> bool:
    """A number of seconds since the epoch that is not negative, NaN, infinite or in the
    future.

    An entry "fetched" in the future (a clock that ran ahead, a damaged file) would never
    expire and never give way to a newer fetch.
    """
    # Compared before any arithmetic: exact for a 400-digit integer, false for NaN.
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 <= value <= now + CLOCK_SKEW_SECONDS)


def entry_fault(raw: object, now: float, items: str = "models") -> str | None:
    """Why a raw entry cannot be used, or None when its frame is sound.

    `items` names its list: "models" in models.json, "names" in the index. (The full path
    also validates each model; the index holds only entries it accepted.)
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("fingerprint"), str):
        return "it has no fingerprint"
    if not usable_fetch_time(raw.get("fetched_at"), now):
        return "it has no usable fetch time"
    if not isinstance(raw.get(items), list):
        return f"it has no {items} list"
    return None


def max_age(strategy: str, ttl_seconds: float) -> float | None:
    """Seconds after which an entry is stale under `strategy`; None: it never is.

    `fresh` fetches on every call in a kernel; for a reader that cannot fetch (completion)
    its lists age like `moderate` ones.
    """
    return None if strategy == "aggressive" else ttl_seconds


def is_expired(fetched_at: float, now: float, strategy: str, ttl_seconds: float) -> bool:
    limit = max_age(strategy, ttl_seconds)
    return limit is not None and now - fetched_at > limit


def completable(name: str) -> bool:
    """Whether completion may offer `name`: one printable line (no tab, newline, control or
    bidi character) of at most NAME_CHARS characters. A newline would forge a line of the
    answer, and an escaped or cut name could never be selected."""
    return 0 < len(name) <= NAME_CHARS and name.isprintable()


def names_index(source: tuple[int, ...],
                entries: dict[str, tuple[str, float, list[str]]]) -> str:
    """The text of the names index of models.json as just written.

    `source` is that file's stamp (`places.file_stamp`); `entries` maps provider id to its
    entry's fingerprint, fetch time and names (the model ids listed by default). Lines, not
    JSON: reading JSON would cost a TAB the import of json and re. A header line with the
    schema and the stamp; per provider a line that starts with a tab (id, fingerprint, fetch
    time), then one name a line. Only `completable` names are kept: another could be neither
    told apart here nor typed at a prompt.
    """
    lines = [_header(source)]
    for pid, (fingerprint, fetched_at, names) in entries.items():
        if pid.isprintable() and fingerprint.isprintable():
            lines.append(f"\t{pid}\t{fingerprint}\t{fetched_at!r}")
            lines.extend(filter(completable, names))
    return "\n".join(lines) + "\n"


def read_names_index(text: str, source: tuple[int, ...] | None) -> dict[str, Any] | None:
    """The entries of a names index written with models.json as it is now (`source`, its
    stamp), each as {"fingerprint", "fetched_at", "names"} for `entry_fault`; None when there
    is no such index (absent, damaged, another schema, or models.json replaced since by a
    process that writes no index)."""
    lines = text.split("\n")
    if source is None or lines[0] != _header(source):
        return None
    entries: dict[str, Any] = {}
    names: list[str] = []
    for line in lines[1:]:
        if line.startswith("\t"):
            fields = line.split("\t")
            if len(fields) != 4:
                return None
            names = []
            entries[fields[1]] = {"fingerprint": fields[2], "fetched_at": _number(fields[3]),
                                  "names": names}
        elif line:
            names.append(line)
    return entries


def _header(source: tuple[int, ...]) -> str:
    return "\t".join(["forge-ipy names", str(SCHEMA), *map(str, source)])


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # not a time: entry_fault refuses it
