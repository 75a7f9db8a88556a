"""Pydantic's errors as ``Problem`` lines (the field path, the bad value, the rule in words and the fix), and
``validate_model``, the one way an input file's data becomes a model: every problem at once, empty sections refused."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from org_backup.config.errors import InputError, Problem, shown


def _is_union_member(part: Any) -> bool:
    """pydantic names the union member it tried in the path, e.g. "literal['all']" or "tuple[...]"."""
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def problems_from_validation_error(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """Every pydantic error as a Problem.

    A list made "too short" by its invalid item reports only the item; for a union such as ``'all' | [ids]`` the
    error of the member that was meant is kept, not "should be 'all'" as well.
    """
    errors = exc.errors()
    errors = [
        e for e in errors if not (e["type"] == "too_short" and any(_is_below(o["loc"], e["loc"]) for o in errors))
    ]

    def union_prefix(err: Any) -> tuple[Any, ...] | None:
        for index, part in enumerate(err["loc"]):
            # a member with an after-validator (a non-empty list) is named "function-after[...]"; a before-validated
            # type inside a member ("function-before[...]") is not itself the member
            if _is_union_member(part) and not str(part).startswith("function-before"):
                return tuple(err["loc"][:index])
        return None

    # A word where a word or a list may stand ('ALL' for target_ous: 'all' | [ids]): not "must be a list" but the word.
    words = {union_prefix(e): e for e in errors if e["type"] == "literal_error" and isinstance(e.get("input"), str)}
    misspelt = {
        prefix for e in errors if e["type"] in ("list_type", "tuple_type") and (prefix := union_prefix(e)) in words
    }
    specific = {union_prefix(e) for e in errors if e["type"] != "literal_error" and union_prefix(e) is not None}
    problems = [_misspelt_word(words[prefix]) for prefix in misspelt]
    errors = [
        e
        for e in errors
        if union_prefix(e) not in misspelt and not (e["type"] == "literal_error" and union_prefix(e) in specific)
    ]
    return problems + [_problem_from_pydantic(err, root) for err in errors]


def _misspelt_word(err: Any) -> Problem:
    value, expected = err["input"], err.get("ctx", {}).get("expected", "")
    field = _path(tuple(p for p in err["loc"] if not _is_union_member(p)))
    words = re.findall(r"'([^']*)'", expected)
    same = next((w for w in words if w.lower() == value.strip().lower()), None)
    fix = f"write {same} (in lower case)." if same else f"write {expected}, or a list as [a, b] or lines starting '- '."
    return Problem(field, f"{shown(value)} is neither {expected} nor a list. Fix: {fix}")


def _is_below(loc: tuple[Any, ...], parent: tuple[Any, ...]) -> bool:
    return len(loc) > len(parent) and tuple(loc[: len(parent)]) == tuple(parent)


M = TypeVar("M", bound=BaseModel)


def _without_nulls(raw: Any, loc: tuple[Any, ...], nulls: list[Problem]) -> Any:
    if isinstance(raw, dict):
        kept = {}
        for key, value in raw.items():
            if value is None:
                nulls.append(
                    Problem(
                        _path((*loc, key)),
                        "is empty: YAML reads a key with nothing after it as null, which would silently take the "
                        "default (no copy, no vault lock, backups kept forever, ...). Fix: write its value or "
                        "settings, or remove the key if the default is what you mean.",
                    )
                )
            else:
                kept[key] = _without_nulls(value, (*loc, key), nulls)
        return kept
    if isinstance(raw, list):
        return [_without_nulls(item, (*loc, index), nulls) for index, item in enumerate(raw)]
    return raw


def validate_model(model: type[M], raw: dict[str, Any], source: str) -> M:
    """``model`` from ``raw``, or InputError with every problem. A key written empty (``copy_to_central:`` with
    nothing under it, ``delete_after_days:`` with no number) is refused, never read as its default: an optional
    setting's null equals its default, so a half-written key would drop a copy or a vault lock, or keep backups
    forever, without a word."""
    nulls: list[Problem] = []
    cleaned = _without_nulls(raw, (), nulls)
    try:
        found = model.model_validate(cleaned)
    except ValidationError as exc:
        empty = {p.field for p in nulls}
        problems = [p for p in problems_from_validation_error(exc, model) if p.field not in empty]
        raise InputError(source, nulls + problems) from None
    if nulls:
        raise InputError(source, nulls)
    return found


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if _is_union_member(part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the field at ``loc`` (used to list the allowed keys of an unknown key)."""
    candidates: list[type[BaseModel]] = [root]
    key_next = False  # the previous field was a dict: this part is one of its keys, not a field
    for part in loc:
        if isinstance(part, int) or _is_union_member(part):
            continue
        if key_next:
            key_next = False
            continue
        # In a discriminated union pydantic puts the tag value (e.g. "s3") in the path.
        tagged = [m for m in candidates if m.model_fields.get("type") and m.model_fields["type"].default == part]
        if tagged:
            candidates = tagged
            continue
        owner = next((m for m in candidates if part in m.model_fields), None)
        if owner is None:
            return None
        annotation = owner.model_fields[part].annotation
        key_next = getattr(annotation, "__origin__", None) is dict
        candidates = _models_in(annotation)
        if not candidates:
            return None
    return candidates[0] if len(candidates) == 1 else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _models_in(arg)
    return found


# pydantic's type errors, as someone editing YAML reads them, each with its fix.
_TYPE_FIXES = {
    "list_type": "must be a list. Fix: write it as [a, b] or as lines starting with '- '.",
    "tuple_type": "must be a list. Fix: write it as [a, b] or as lines starting with '- '.",
    "dict_type": "must be a mapping of keys to values. Fix: write 'key: value' lines indented under it.",
    "model_type": "must be a mapping of keys to values. Fix: write 'key: value' lines indented under it.",
    "int_parsing": "is not a whole number. Fix: write digits only, e.g. 35.",
    "int_type": "is not a whole number. Fix: write digits only, e.g. 35.",
    "int_from_float": "is not a whole number. Fix: drop the fraction, e.g. 35.",
    "bool_parsing": "is not true or false. Fix: write true or false.",
    "bool_type": "is not true or false. Fix: write true or false.",
    "string_type": "is not text. Fix: quote it.",
}


def _problem_from_pydantic(err: Any, root: type[BaseModel]) -> Problem:
    loc = tuple(p for p in err["loc"] if not _is_union_member(p))
    field = _path(loc)
    kind = err["type"]
    value = err.get("input")
    if kind == "missing":
        example = getattr(root, "example_file", "backup.yaml")  # the file that shows this model filled in
        fix = getattr(root, "missing_fixes", {}).get(field) or f"add '{loc[-1]}' (see {example} for an example)."
        return Problem(field, f"is required but missing. Fix: {fix}")
    if kind == "extra_forbidden":
        owner = _model_at(root, loc[:-1])
        retired = getattr(owner, "retired_keys", {}).get(loc[-1]) if owner else None
        if retired:
            return Problem(field, retired)
        allowed = ", ".join(sorted(owner.model_fields)) if owner else "see backup.schema.json"
        return Problem(
            field, f"unknown key {loc[-1]!r}. Fix: remove it or correct the spelling; allowed keys here: {allowed}."
        )
    if kind == "too_short":
        need = err.get("ctx", {}).get("min_length", 1)
        return Problem(field, f"{shown(value)} is too short: at least {need} required. Fix: add the missing entries.")
    if kind == "too_long":
        limit = err.get("ctx", {}).get("max_length")
        return Problem(field, f"{shown(value)} is too long: at most {limit} allowed. Fix: shorten it.")
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return Problem(field, "'type' must be 'local' or 's3'. Fix: set type: local (default) or type: s3.")
    if kind.startswith(("pattern", "not_string", "region", "kms_alias", "tags", "schedule", "timezone", "empty")):
        return Problem(field, err["msg"])
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return Problem(
            field, f"{shown(value)} is not one of the allowed values. Fix: use one of {expected} (spelled exactly so)."
        )
    bounds = err.get("ctx", {})
    if kind == "greater_than_equal":
        return Problem(
            field, f"{shown(value)} is below the minimum {bounds.get('ge')}. Fix: use {bounds.get('ge')} or more."
        )
    if kind == "less_than_equal":
        return Problem(
            field, f"{shown(value)} is above the maximum {bounds.get('le')}. Fix: use {bounds.get('le')} or less."
        )
    if kind in _TYPE_FIXES:
        return Problem(field, f"{shown(value)} {_TYPE_FIXES[kind]}")
    return Problem(field, f"{shown(value)}: {err['msg']}. Fix: see backup.schema.json for what this field takes.")
