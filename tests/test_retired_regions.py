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

from org_backup.config_loader import config_from_dict
from org_backup.errors import InputError
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
