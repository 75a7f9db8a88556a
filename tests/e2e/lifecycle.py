"""Plan, apply, re-plan and destroy one synthesized stack with the real Terraform against a local AWS API."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from org_backup.terraform import TerraformEnv, plan_all

# Resources moto 5.2.5 cannot create, keyed by resource type: (predicate on the resource body, reason).
# They are still planned; they are excluded from apply only, together with whatever references them.
EXCLUDED_FROM_APPLY: dict[str, tuple[Callable[[dict[str, Any]], bool], str]] = {
    "aws_organizations_policy": (
        lambda body: body.get("type") == "BACKUP_POLICY",
        "moto 5.2.5 does not implement Organizations policies of type BACKUP_POLICY",
    ),
    "aws_backup_global_settings": (
        lambda body: True,
        "moto 5.2.5 does not implement backup:UpdateGlobalSettings",
    ),
    "aws_organizations_delegated_administrator": (
        lambda body: body.get("service_principal") == "backup.amazonaws.com",
        "moto 5.2.5 does not recognise backup.amazonaws.com as a delegated-administrator service principal",
    ),
    "aws_codebuild_project": (
        lambda body: (body.get("source") or {}).get("type") == "CODEPIPELINE",
        "moto 5.2.5 wrongly requires a source location for projects whose source is CODEPIPELINE",
    ),
    "aws_codebuild_report_group": (
        lambda body: True,
        "moto 5.2.5 does not implement codebuild:CreateReportGroup",
    ),
    "aws_codecommit_approval_rule_template": (
        lambda body: True,
        "moto 5.2.5 does not implement CodeCommit approval rule templates",
    ),
    "aws_cloudformation_stack_set": (
        lambda body: body.get("permission_model") == "SERVICE_MANAGED",
        "moto 5.2.5 does not keep capabilities, auto_deployment or operation preferences of a SERVICE_MANAGED "
        "stack set, so every plan would show a change AWS does not",
    ),
    "aws_codecommit_repository": (
        lambda body: True,
        "moto 5.2.5 returns CodeCommit timestamps the AWS Go SDK cannot parse",
    ),
    "aws_codepipeline": (
        lambda body: True,
        "moto 5.2.5 returns CodePipeline timestamps the AWS Go SDK cannot parse",
    ),
}

_REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)[.}\[]")
_CREATED = re.compile(r"^\s*# (\S+) will be created$", re.MULTILINE)


def split_for_apply(stack: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Resource addresses to apply, and the excluded ones with their reason (direct, or through a reference)."""
    resources = {
        f"{rtype}.{name}": body for rtype, items in stack.get("resource", {}).items() for name, body in items.items()
    }
    excluded: dict[str, str] = {}
    for address, body in resources.items():
        rule = EXCLUDED_FROM_APPLY.get(address.split(".", 1)[0])
        if rule and rule[0](body):
            excluded[address] = rule[1]
    changed = True
    while changed:
        changed = False
        for address, body in resources.items():
            if address in excluded:
                continue
            text = json.dumps(body)
            refs = {f"{t}.{n}" for t, n in _REFERENCE.findall(text)} | set(body.get("depends_on", []))
            hit = sorted(refs & set(excluded))
            if hit:
                excluded[address] = f"references {hit[0]}, which is excluded"
                changed = True
    return sorted(set(resources) - set(excluded)), excluded


@dataclass
class StackRun:
    name: str
    plan_codes: dict[str, int] = field(default_factory=dict)  # what the `make plan` runner returned
    plan_dir: Path | None = None  # its saved plan, plan text and summary.md
    planned: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    replan_exit_code: int | None = None
    replan_output: str = ""
    state_after_destroy: list[str] | None = None
    verified: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


Progress = Callable[[str, str], None]  # (stack, message): one line on the terminal while the run goes on


def _state_list(env: TerraformEnv, stack_dir: Path) -> list[str]:
    result = env.run(stack_dir, "state", "list", check=False)
    return sorted(line for line in result.stdout.splitlines() if line.strip())


def _step(progress: Progress, stack: str, label: str, action: Callable[[], str]) -> None:
    """Run one step, reporting it before and after (with its duration), so a long apply never looks like a hang."""
    started = time.monotonic()
    progress(stack, f"{label} ...")
    try:
        outcome = action()
    except Exception:
        progress(stack, f"{label} FAILED after {time.monotonic() - started:.0f} s")
        raise
    progress(stack, f"{label} {outcome} ({time.monotonic() - started:.0f} s)")


def run_lifecycle(
    env: TerraformEnv,
    stack_dir: Path,
    plans: Path,
    *,
    progress: Progress,
    verify: Callable[[str], dict[str, Any]] | None = None,
) -> StackRun:
    """Plan with the runner behind `make plan` (init with the backend, plan without the lock, saved plan and text
    in ``plans/<stack>/``), apply that saved plan (or, where moto cannot serve a resource, a targeted apply of the
    rest), re-plan, destroy. Every step's failure is recorded, not raised, so one stack cannot hide another's."""
    name = stack_dir.name
    run = StackRun(name=name, plan_dir=plans / name)
    started = time.monotonic()
    stack = json.loads((stack_dir / "cdk.tf.json").read_text())
    targets, run.excluded = split_for_apply(stack)
    target_args = [f"-target={address}" for address in targets] if run.excluded else []

    def plan() -> str:
        run.plan_codes = plan_all(stack_dir.parent.parent, plans / name, [name], env=env)
        run.planned = sorted(_CREATED.findall((plans / name / f"{name}.txt").read_text()))
        return f"{len(run.planned)} to create"

    def apply() -> str:
        if run.excluded:  # the saved plan holds resources moto cannot create: apply the others
            env.run(stack_dir, "apply", "-input=false", "-no-color", "-auto-approve", *target_args)
        else:
            env.run(stack_dir, "apply", "-input=false", "-no-color", str((plans / name / f"{name}.tfplan").resolve()))
        run.applied = _state_list(env, stack_dir)
        if verify is not None:
            run.verified = verify(name)
        left_out = f", {len(run.excluded)} left out (moto cannot serve them)" if run.excluded else ""
        return f"{len(run.applied)} created{left_out}"

    def replan() -> str:
        result = env.run(
            stack_dir, "plan", "-input=false", "-no-color", "-detailed-exitcode", *target_args, check=False
        )
        run.replan_exit_code = result.returncode
        output = result.stdout + result.stderr
        marker = output.find("Terraform will perform the following actions")
        run.replan_output = output[marker if marker >= 0 else 0 :][:6000]
        return {0: "no changes", 2: "CHANGES"}.get(result.returncode, f"failed (exit {result.returncode})")

    def destroy() -> str:
        # No refresh: the re-plan has just read every resource back (one provider process per Region fewer).
        env.run(stack_dir, "destroy", "-input=false", "-no-color", "-auto-approve", "-refresh=false")
        run.state_after_destroy = _state_list(env, stack_dir)
        return f"{len(run.state_after_destroy)} left in state"

    try:
        _step(progress, name, "plan (make plan runner)", plan)
        _step(progress, name, f"apply {len(targets)} resources", apply)
        _step(progress, name, "re-plan", replan)
    except Exception as exc:  # recorded for the assertion message; destroy still runs below
        run.error = str(exc)[-6000:]
    finally:
        try:
            _step(progress, name, "destroy", destroy)
        except Exception as exc:
            run.error = f"{run.error or ''}\ndestroy failed: {exc}"[-6000:]
        run.seconds = time.monotonic() - started
    return run
