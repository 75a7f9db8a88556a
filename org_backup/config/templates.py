"""Render the JSON policy templates kept in ``policies/``.

Templates are plain JSON with ``{{name}}`` placeholders. A string that is exactly one placeholder is replaced by
the value itself (so a placeholder can stand for a list of ARNs); a placeholder inside a longer string is
replaced by the value's text. Rendering fails on a missing, unused or leftover placeholder, on invalid JSON and
on ``${`` (which Terraform would treat as an interpolation), so a typo can never reach AWS. Output is serialised
deterministically: sorted keys, no whitespace.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

from org_backup.config.errors import InputError, Problem
from org_backup.config.paths import POLICIES_DIR

DEFAULT_PLANS_FILE = POLICIES_DIR / "backup_plans.yaml"  # when backup.yaml names no backup_plans_file
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


def load_template(name: str, root: Path = POLICIES_DIR) -> Any:
    path = root / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(path), [Problem("", "policy template not found.")]) from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), [Problem("", f"is not valid JSON at line {exc.lineno}: {exc.msg}.")]) from None


def render_template(name: str, root: Path = POLICIES_DIR, **values: Any) -> dict[str, Any]:
    """Fill a template's placeholders and return the document as a dict."""
    template = load_template(name, root)
    used: set[str] = set()
    missing: set[str] = set()

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {fill(k): fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if not isinstance(node, str):
            return node
        whole = _PLACEHOLDER.fullmatch(node)
        if whole:
            key = whole.group(1)
            if key not in values:
                missing.add(key)
                return node
            used.add(key)
            return values[key]

        def text(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in values:
                missing.add(key)
                return match.group(0)
            used.add(key)
            return str(values[key])

        return _PLACEHOLDER.sub(text, node)

    document = fill(template)
    problems = [Problem(f"{{{{{key}}}}}", "placeholder has no value.") for key in sorted(missing)]
    problems += [
        Problem(key, "value given but the template has no such placeholder.") for key in sorted(set(values) - used)
    ]
    serialised = dumps(document)
    # "}}" occurs naturally in minified JSON; "{{" cannot (object keys are strings), so it marks a leftover.
    if "{{" in serialised and not missing:
        problems.append(Problem("", "a '{{' is left after rendering (malformed placeholder)."))
    if "${" in serialised:
        problems.append(Problem("", "contains '${', which Terraform would interpolate."))
    if problems:
        raise InputError(str(root / name), problems)
    return cast(dict[str, Any], document)  # a template is a JSON object (render_template's contract)


def dumps(document: Any) -> str:
    """The one serialisation of every policy document: sorted keys, minified, so output is byte-stable."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
