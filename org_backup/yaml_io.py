"""Strict YAML reading: a duplicated key is an error, not a silent "last one wins"."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import yaml

from org_backup.errors import InputError, Problem


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type information
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first defined on line {seen[key] + 1}); YAML would silently keep only the last one",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return cast(dict[Any, Any], loader.construct_mapping(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file or raise InputError naming the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            str(path), [Problem("", "file not found. Fix: create it or point BACKUP_CONFIG at it.")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), [Problem("", f"cannot be read ({exc}).")]) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise InputError(str(path), [Problem("", f"is not valid YAML at {where}: {exc.problem}.")]) from None
    except yaml.YAMLError as exc:
        raise InputError(str(path), [Problem("", f"is not valid YAML: {exc}.")]) from None
