"""Load sql/queries/*.sql once at start; a bad file fails the boot.

Each file holds one statement and starts with a header:

    -- <name, equal to the file stem>
    -- <what it does, one or more lines>
    -- params: <the %(name)s placeholders, comma-separated>
    -- uses: <the indexes its plan relies on>
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

QUERY_DIR = Path(__file__).resolve().parent.parent / "sql" / "queries"

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class QueryFileError(RuntimeError):
    """A query file does not follow the header rules."""


@dataclass(frozen=True)
class Query:
    name: str
    doc: str
    params: tuple[str, ...]
    uses: tuple[str, ...]
    sql: str


def _parse(path: Path) -> Query:
    text = path.read_text(encoding="utf-8")
    header = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line[2:].strip())
    if not header or header[0] != path.stem:
        raise QueryFileError(f"{path.name}: the first line must be '-- {path.stem}'")
    fields = {}
    doc = []
    for line in header[1:]:
        key, sep, value = line.partition(":")
        if sep and key in {"params", "uses"}:
            fields[key] = tuple(v.strip() for v in value.split(",") if v.strip())
        else:
            doc.append(line)
    for key in ("params", "uses"):
        if key not in fields:
            raise QueryFileError(f"{path.name}: the header has no '-- {key}:' line")
    placeholders = set(_PLACEHOLDER.findall(text))
    if placeholders != set(fields["params"]):
        raise QueryFileError(
            f"{path.name}: params {sorted(fields['params'])} do not match placeholders {sorted(placeholders)}"
        )
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()
    if body.rstrip(";").count(";"):
        raise QueryFileError(f"{path.name}: one statement per file")
    return Query(name=path.stem, doc=" ".join(doc).strip(), params=fields["params"], uses=fields["uses"], sql=text)


def load(directory: Path = QUERY_DIR) -> dict[str, Query]:
    """Read every query file of the folder."""
    queries = {path.stem: _parse(path) for path in sorted(directory.glob("*.sql"))}
    if not queries:
        raise QueryFileError(f"no query files in {directory}")
    return queries


QUERIES = load()
