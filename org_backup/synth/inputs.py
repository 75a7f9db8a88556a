"""Everything synth needs, loaded and validated once: the config, the rendered backup policies and SCPs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from org_backup.config.errors import InputError, InputErrors
from org_backup.config.loader import load_config
from org_backup.config.model import BackupConfig
from org_backup.config.templates import DEFAULT_PLANS_FILE
from org_backup.config.yaml_io import load_yaml
from org_backup.iam.guardrails import RenderedScp, render_scps
from org_backup.iam.quotas import trust_size_problems
from org_backup.plans.audit import framework_problems
from org_backup.plans.backup_policy import RenderedPolicy, load_plans, render_policies
from org_backup.plans.model import BackupPlans
from org_backup.plans.rules import plans_schema_problems


@dataclass(frozen=True)
class Inputs:
    config: BackupConfig
    backup_policies: tuple[RenderedPolicy, ...]
    scps: tuple[RenderedScp, ...]
    plans: BackupPlans  # for what derives from the plans beside the policies (the audit frameworks)

    @classmethod
    def load(cls, config_path: Path) -> Inputs:
        """Validate backup.yaml, then the plans file it names, then render; raise InputError on any problem."""
        try:
            config = load_config(config_path)
        except InputError as config_error:
            also = plans_schema_problems(_plans_path_of_raw(config_path))
            raise (InputErrors([config_error, also]) if also else config_error) from None
        if problems := trust_size_problems(config):
            raise InputError(str(config_path), problems)
        plans = load_plans(config.backup_plans_path(config_path.parent), config)
        problems = framework_problems(config, plans)
        if problems:  # the audit controls derive their parameters from the plans: checked once both are valid
            raise InputError(str(config_path), problems)
        return cls(config, tuple(render_policies(plans, config)), tuple(render_scps(config)), plans)

    @property
    def split_policies(self) -> list[RenderedPolicy]:
        return [p for p in self.backup_policies if p.split]


def _plans_path_of_raw(config_path: Path) -> Path:
    """Where an invalid config points for its plans file, as far as its YAML says (else the default)."""
    try:
        raw = load_yaml(config_path)
    except InputError:
        return DEFAULT_PLANS_FILE
    named = raw.get("backup_plans_file") if isinstance(raw, dict) else None
    return config_path.parent / named if isinstance(named, str) and named else DEFAULT_PLANS_FILE
