"""``retired_regions`` (issue 29): a Region taken out of the targets keeps its vaults and keys in AWS. Its stacks keep
the Region's provider and carry one Terraform ``removed`` block (``destroy = false``) per resource org-backup made
there, at the address that resource had while the Region was targeted: the same organization synthesized with the
Region still in ``target_regions`` and ``central_backup.regions`` is the oracle. Terraform forgets those resources
(plan action ``forget``, which make plan lists as kept: tests/test_plan_guard.py); without the retirement, make plan
refuses the destroy."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from org_backup.config.errors import InputError
from org_backup.config.loader import config_from_dict
from tests.conftest import FIXTURES, Synthesized

RETIRED: dict[str, Any] = yaml.safe_load((FIXTURES / "retired_region.yaml").read_text())
MEMBER = "member-100000000004"


@pytest.fixture(scope="module")
def outputs(synth: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Synthesized, Synthesized]:
    """(the Region still targeted, the Region retired)."""
    targeted = copy.deepcopy(RETIRED)
    del targeted["retired_regions"]
    targeted["target_regions"] = ["us-east-1", "eu-west-1"]
    targeted["central_backup"]["regions"] = ["us-east-1", "eu-west-1"]
    path = tmp_path_factory.mktemp("targeted") / "backup.yaml"
    path.write_text(yaml.safe_dump(targeted))
    return synth(path), synth("retired_region")


def _in_region(stack: dict[str, Any], region: str) -> list[str]:
    return sorted(
        f"{kind}.{name}"
        for kind, resources in stack.get("resource", {}).items()
        for name, resource in resources.items()
        if resource.get("provider") == f"aws.{region}"
    )


@pytest.mark.parametrize("stack", [MEMBER, "central-backup"])
def test_every_resource_of_the_retired_region_is_released_at_the_address_it_had(
    outputs: tuple[Synthesized, Synthesized], stack: str
) -> None:
    targeted, retired = (out.stack(stack) for out in outputs)
    before = _in_region(targeted, "eu-west-1")
    assert any(a.startswith("aws_backup_vault.") for a in before) and any(a.startswith("aws_kms_key.") for a in before)
    assert retired["removed"] == [{"from": address, "lifecycle": {"destroy": False}} for address in before]
    assert _in_region(retired, "eu-west-1") == []
    # The provider stays (Terraform reads the state's resources through it); the other Region is untouched.
    assert [p["alias"] for p in retired["provider"]["aws"]] == ["us-east-1", "eu-west-1"]
    assert _in_region(retired, "us-east-1") == _in_region(targeted, "us-east-1")


def test_a_region_both_retired_and_targeted_is_refused() -> None:
    data = copy.deepcopy(RETIRED)
    data["retired_regions"] = ["eu-west-1", "us-east-1", "eu-west-1"]
    with pytest.raises(InputError) as raised:
        config_from_dict(data, source="backup.yaml")
    assert {p.field: p.message for p in raised.value.problems} == {
        "retired_regions[1]": "'us-east-1' is still a target Region (target_regions or central_backup.regions): a "
        "retired Region's resources are released from Terraform. Fix: remove it from those lists, or from "
        "retired_regions to keep it.",
        "retired_regions[2]": "'eu-west-1' is listed twice. Fix: remove the duplicate.",
    }


def test_retired_plans_reach_the_backup_policies_stack_and_a_live_one_is_refused(
    synth: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """make plan reads the plans file's retired_plans from the synthesized stack (a Terraform local, which Terraform
    itself ignores): the reviewed change says which plan may go (org_backup/ops/plan_guard.py, tests/test_plan_guard.py)."""
    from org_backup.config.templates import DEFAULT_PLANS_FILE
    from org_backup.plans.rules import validate_plans

    plans = yaml.safe_load(DEFAULT_PLANS_FILE.read_text())
    plans["retired_plans"] = ["OrgBackupPlanWeekly"]
    folder = tmp_path_factory.mktemp("retired-plans")
    (folder / "plans.yaml").write_text(yaml.safe_dump(plans))
    config = copy.deepcopy(RETIRED) | {"backup_plans_file": "plans.yaml"}
    (folder / "backup.yaml").write_text(yaml.safe_dump(config))
    stack = synth(folder / "backup.yaml").stack("backup-policies")
    assert stack["locals"] == {"org_backup_retired_plans": ["OrgBackupPlanWeekly"]}
    plans["retired_plans"] = ["OrgBackupPlanDaily"]
    with pytest.raises(InputError) as raised:
        validate_plans(plans, config=config_from_dict(RETIRED, source="backup.yaml"), source="plans.yaml")
    assert [p.render() for p in raised.value.problems] == [
        "retired_plans[0]: 'OrgBackupPlanDaily' is still a plan under plans: a retired plan is one deliberately "
        "removed. Fix: remove it from plans, or from retired_plans to keep it."
    ]
