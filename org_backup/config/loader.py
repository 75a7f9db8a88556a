"""The one way to load a configuration: YAML -> model (every field error at once) -> cross-field rules (every
problem at once) -> the accounts snapshot, when ``accounts_file`` is set. The model (``config``) never reads a
file; this module does, and raises ``InputError`` naming the file and every problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from org_backup.config import accounts_lock
from org_backup.config.errors import InputError, Problem
from org_backup.config.model import BackupConfig
from org_backup.config.rules import cross_field_problems, member_problems
from org_backup.config.validation_errors import validate_model
from org_backup.config.yaml_io import load_yaml_with_lines


def load_config(path: str | Path, *, with_accounts_file: bool = True) -> BackupConfig:
    """Read, parse and validate a config file; raise InputError listing every problem.

    ``with_accounts_file=False`` leaves the accounts snapshot unread (discover, which is about to rewrite it)."""
    path = Path(path)
    raw, lines = load_yaml_with_lines(path)
    if not isinstance(raw, dict):
        what = "has no settings, only comments" if raw is None else f"holds a {type(raw).__name__}, not settings"
        raise InputError(
            str(path),
            [
                Problem(
                    "",
                    f"{what}: a config is 'key: value' lines at the top level. Fix: start from backup.minimal.yaml "
                    "(the smallest config) or backup.yaml (every feature) in the repository.",
                )
            ],
        )
    try:
        return config_from_dict(raw, source=str(path), base_dir=path.parent, with_accounts_file=with_accounts_file)
    except InputError as error:
        if error.source != str(path):  # the accounts snapshot's problems: lines of another file
            raise
        raise InputError(error.source, [p.at_line(lines) for p in error.problems]) from None


def config_from_dict(
    raw: dict[str, Any], *, source: str, base_dir: Path | None = None, with_accounts_file: bool = True
) -> BackupConfig:
    """Validate ``raw``; with ``accounts_file`` set, also load that snapshot (relative to ``base_dir``, default the
    directory of ``source``) and take every target OU's accounts from it."""
    config = validate_model(BackupConfig, raw, source)
    problems = cross_field_problems(config)
    if problems:
        raise InputError(source, problems)
    if config.accounts_file is None or not with_accounts_file:
        return config
    config = accounts_lock.apply(config, config.accounts_path(base_dir or Path(source).parent))
    problems = member_problems(config)
    if problems:
        raise InputError(source, problems)
    return config
