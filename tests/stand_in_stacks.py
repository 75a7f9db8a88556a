"""Stand-in stacks for tests that run the real Terraform without a provider or AWS: Terraform's built-in
terraform_data resource, local state, and a provider lock file that locks nothing (tests/test_plan_guard.py,
tests/test_plan_shards.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from org_backup.ops.terraform import TerraformEnv


def write_stack(stack: Path, resources: dict[str, Any], removed: list[dict[str, Any]] | None = None) -> None:
    """A stack folder as synth writes one (cdk.tf.json), holding ``resources`` as terraform_data resources."""
    document: dict[str, Any] = {
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}},
        "resource": {"terraform_data": resources},
    }
    if removed:
        document["removed"] = removed
    stack.mkdir(parents=True, exist_ok=True)
    (stack / "cdk.tf.json").write_text(json.dumps(document))


def terraform_env(tmp_path: Path) -> TerraformEnv:
    """Terraform as make plan runs it, with a lock file for no provider: terraform_data is built in."""
    lock = tmp_path / "no-providers.lock.hcl"
    lock.write_text("# no providers: the stand-in stacks use Terraform's built-in terraform_data only\n")
    return TerraformEnv.prepare(tmp_path / "build", provider_lock=lock)
