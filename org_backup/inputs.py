"""Everything synth needs, loaded and validated once: the config, the rendered backup policies and SCPs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from org_backup.backup_policy import RenderedPolicy, load_plans, render_policies
from org_backup.config import BackupConfig
from org_backup.config_loader import load_config
from org_backup.guardrails import RenderedScp, render_scps


@dataclass(frozen=True)
class Inputs:
    config: BackupConfig
    backup_policies: tuple[RenderedPolicy, ...]
    scps: tuple[RenderedScp, ...]

    @classmethod
    def load(cls, config_path: Path) -> Inputs:
        """Validate backup.yaml, then the plans file it names, then render; raise InputError on any problem."""
        config = load_config(config_path)
        plans = load_plans(config.backup_plans_path(config_path.parent), config)
        return cls(config, tuple(render_policies(plans, config)), tuple(render_scps(config)))

    @property
    def split_policies(self) -> list[RenderedPolicy]:
        return [p for p in self.backup_policies if p.split]
