"""``python -m org_backup policy check FILE...``: AWS's rules for BACKUP_POLICY documents applied to any files, so
teams can check the policies they already have (hand-written, from other tools), not only the ones org-backup renders.

One line per problem, naming the file, the JSON path and the fix; exit 0 when every document is valid, 2 otherwise.
Nothing here raises on a document's content: the validator reports shapes as problems (tests/
test_policy_document_shapes.py feeds it random JSON), and unreadable or non-JSON files are problems too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from org_backup.errors import Problem
from org_backup.policy_document import validate_policy_document


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """AWS Organizations, "Backup policy syntax and examples": "Duplicate key names will be rejected in JSON" (Python's
    json module would silently keep the last one)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def problems_of(path: Path) -> list[Problem]:
    """Every problem of one file as a BACKUP_POLICY document (empty when AWS would accept it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem("", f"cannot be read: {exc}.")]
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        return [Problem("", f"the key {exc.args[0]!r} occurs twice in one object; AWS rejects duplicate keys.")]
    except json.JSONDecodeError as exc:
        return [Problem("", f"is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).")]
    return validate_policy_document(document)


def check(paths: Iterable[Path], out: Any, err: Any) -> int:
    """Print ``FILE: ok`` for each valid document on ``out`` and ``FILE: <path>: <problem>`` for every problem on
    ``err``; 0 when all are valid, 2 otherwise."""
    failed = False
    for path in paths:
        found = problems_of(path)
        if not found:
            print(f"{path}: ok", file=out)
        for problem in found:
            failed = True
            print(f"{path}: {problem.render()}", file=err)
    return 2 if failed else 0
