"""`terraform validate` of every synthesized stack with the real hashicorp/aws provider (5.100.0)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from org_backup.ops import scan_set
from org_backup.ops.terraform import TerraformEnv, stack_dirs
from org_backup.ops.terraform_validate import Validation, validate_all

pytestmark = pytest.mark.terraform

SCENARIOS = [
    "example",
    "minimal",
    "central_is_member",
    "connection_source",
    "air_gapped",
    "external_ci",
    "retired_region",
]
# Stands for the .terraform folder a real deploy leaves in a stack (backend settings); validation must not touch it.
BACKEND_MARKER = '{"backend": "from a real deploy"}'


@dataclass(frozen=True)
class Validated:
    results: dict[str, dict[str, Validation]]
    minimal_copy: Path  # where "minimal" was validated: a copy whose management stack has a deployed .terraform


@pytest.fixture(scope="module")
def validated(synth: Any, tmp_path_factory: pytest.TempPathFactory) -> Validated:
    """Every scenario validated in one pool, so the Terraform processes of all scenarios share the cores."""
    outdirs = {scenario: synth(scenario).outdir for scenario in SCENARIOS}
    outdirs["minimal"] = tmp_path_factory.mktemp("validate") / "cdktf.out"
    shutil.copytree(synth("minimal").outdir, outdirs["minimal"])
    marker = outdirs["minimal"] / "stacks" / "management" / ".terraform" / "terraform.tfstate"
    marker.parent.mkdir()
    marker.write_text(BACKEND_MARKER)
    report = validate_all(outdirs.values())
    return Validated({scenario: report[outdir] for scenario, outdir in outdirs.items()}, outdirs["minimal"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_stack_is_valid_terraform(synth: Any, validated: Validated, scenario: str) -> None:
    out = synth(scenario)
    results = validated.results[scenario]
    assert sorted(results) == [d.name for d in stack_dirs(out.outdir)] == out.stack_names
    invalid = {name: v.result["diagnostics"] for name, v in results.items() if not v.valid}
    assert invalid == {}
    warnings = {name: v.result["warning_count"] for name, v in results.items() if v.result["warning_count"]}
    assert warnings == {}


def test_only_stacks_of_one_shape_share_a_validation(synth: Any, validated: Validated) -> None:
    """A stack counts as validated through another only when scan_set says they are one shape."""
    for scenario in SCENARIOS:
        stacks = synth(scenario).outdir / "stacks"
        for name, validation in validated.results[scenario].items():
            if validation.same_shape_as is not None:
                assert name.startswith("member-"), (scenario, name)
                assert scan_set.shape(stacks / name) == scan_set.shape(stacks / validation.same_shape_as)
    shared = {s: [n for n, v in validated.results[s].items() if v.same_shape_as] for s in SCENARIOS}
    assert shared["example"] == ["member-555555555555", "member-666666666666"]
    assert shared["central_is_member"] == []  # the member that is also the central account is its own shape


def test_validation_leaves_a_stacks_terraform_working_directory_alone(validated: Validated) -> None:
    """Providers come from one shared installation (TF_DATA_DIR): a stack's own .terraform, where a real deploy
    keeps its backend settings, is neither read nor written; the lock file lands beside cdk.tf.json as init's would."""
    working = validated.minimal_copy / "stacks" / "management" / ".terraform"
    assert validated.results["minimal"]["management"].valid
    assert sorted(p.name for p in working.iterdir()) == ["terraform.tfstate"]
    assert (working / "terraform.tfstate").read_text() == BACKEND_MARKER
    assert all((d / ".terraform.lock.hcl").is_file() for d in stack_dirs(validated.minimal_copy))


def test_an_error_in_one_stack_of_a_batch_fails_that_stack_alone(synth: Any, tmp_path: Path) -> None:
    """Stacks are validated as child modules of one root module per batch: a diagnostic goes to the stack it
    names, and the batch's other stacks stay valid."""
    outdir = tmp_path / "cdktf.out"
    shutil.copytree(synth("minimal").outdir, outdir)
    broken = outdir / "stacks" / "central-backup" / "cdk.tf.json"
    stack = json.loads(broken.read_text())
    vault = next(iter(stack["resource"]["aws_backup_vault"].values()))
    vault["not_an_argument"] = "x"
    broken.write_text(json.dumps(stack))
    results = validate_all([outdir])[outdir]
    assert [name for name, v in results.items() if not v.valid] == ["central-backup"]
    (diagnostic,) = results["central-backup"].result["diagnostics"]  # type: ignore[misc]
    assert (diagnostic["severity"], diagnostic["summary"]) == ("error", "Extraneous JSON object property")
    assert "not_an_argument" in diagnostic["detail"]
    # The stack validated alone, as before batches: the same verdict and the same error.
    env = TerraformEnv.prepare()
    alone = env.run(broken.parent, "validate", "-json", check=False, data_dir=env.shared_providers(broken.parent))
    report = json.loads(alone.stdout)
    assert report["valid"] is False
    assert [(d["severity"], d["summary"], d["detail"]) for d in report["diagnostics"]] == [
        (diagnostic["severity"], diagnostic["summary"], diagnostic["detail"])
    ]
