"""``python -m org_backup policy check|effective``: AWS's rules for BACKUP_POLICY documents applied to any files, so
teams can check and merge the policies they already have (hand-written, from other tools), not only org-backup's.

``check FILE...``: one line per problem, naming the file, the JSON path and the fix; exit 0 when every document is
valid, 2 otherwise. ``effective --level FILE[,FILE...] ...``: the levels from the organization root down to the
account, merged as org_backup.plans.effective does; the effective policy as JSON on stdout, each refused child operation and
each note on stderr; exit 2 if a document is invalid (its problems printed as by ``check``).
Nothing here raises on a document's content: the validator reports shapes as problems (tests/
test_policy_document_shapes.py feeds it random JSON), and unreadable or non-JSON files are problems too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from org_backup.config.errors import Problem
from org_backup.plans.document import validate_policy_document
from org_backup.plans.effective import effective_policy, incomplete, plan_lines


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


def read(path: Path) -> tuple[Any, list[Problem]]:
    """One file's document and its problems as a BACKUP_POLICY document (none when AWS would accept it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem("", f"cannot be read: {exc}.")]
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        return None, [Problem("", f"the key {exc.args[0]!r} occurs twice in one object; AWS rejects duplicate keys.")]
    except json.JSONDecodeError as exc:
        return None, [
            Problem(
                "",
                f"is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}). Fix: pass a BACKUP_POLICY document as "
                "JSON, e.g. the Content of `aws organizations describe-policy --policy-id <id>`; a plans file (YAML) "
                "is checked by `make synth`.",
            )
        ]
    return document, validate_policy_document(document)


def check(paths: Iterable[Path], out: Any, err: Any) -> int:
    """Print ``FILE: ok`` for each valid document on ``out`` and ``FILE: <path>: <problem>`` for every problem on
    ``err``; 0 when all are valid, 2 otherwise."""
    failed = False
    for path in paths:
        found = read(path)[1]
        if not found:
            print(f"{path}: ok", file=out)
        for problem in found:
            failed = True
            print(f"{path}: {problem.render()}", file=err)
    return 2 if failed else 0


def effective(levels: list[str], out: Any, err: Any, *, text: bool = False) -> int:
    """``levels``: one "FILE[,FILE...]" per level, root first, files of a level in attachment order; ``text``: the
    readable form ``preview`` prints instead of JSON."""
    merged_levels: list[list[tuple[str, dict[str, Any]]]] = []
    failed = False
    for level in levels:
        attached = []
        for name in filter(None, (part.strip() for part in level.split(","))):
            document, found = read(Path(name))
            for problem in found:
                failed = True
                print(f"{name}: {problem.render()}", file=err)
            if not found:
                attached.append((name, document))
        merged_levels.append(attached)
    if failed:
        return 2
    merge = effective_policy(merged_levels, keep_order=True)
    for refused in merge.refused:
        print(f"refused: {refused}", file=err)
    for note in [*merge.notes, *incomplete(merge.effective)]:
        print(f"note: {note}", file=err)
    print(
        "\n".join(plan_lines(merge.effective)) if text else json.dumps(merge.effective, indent=2, sort_keys=True),
        file=out,
    )
    return 0
