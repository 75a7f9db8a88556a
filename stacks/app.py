"""Build every stack from one config and synthesize atomically: a failed synth leaves the output untouched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cdktf import App, TerraformStack

from org_backup.config.naming import (
    BACKUP_POLICIES_STACK,
    BOOTSTRAP_PREFIX,
    CENTRAL_STACK,
    MANAGEMENT_STACK,
    PIPELINE_STACK,
    member_stack,
)
from org_backup.config.pipeline import CodeCommitSource
from org_backup.plans import audit
from org_backup.plans.model import indexes_ebs
from org_backup.synth import lambda_package, member_stamp
from org_backup.synth import output as synth_output
from org_backup.synth import rules as synth_rules
from org_backup.synth.inputs import Inputs
from stacks.bootstrap import BootstrapStack
from stacks.central_backup import CentralBackupStack
from stacks.common import SynthOptions
from stacks.management import BackupPoliciesStack, ManagementStack
from stacks.member_account import MemberAccountStack
from stacks.pipeline import PipelineStack


class SynthError(Exception):
    """Synth produced error annotations (an org-wide rule is violated)."""


def build_app(*, inputs: Inputs, outdir: Path, options: SynthOptions, members: set[str] | None = None) -> App:
    """Every stack of the organization; of the member stacks only those of ``members`` when given (the others are
    written from their shape, ``org_backup.synth.member_stamp``)."""
    config = inputs.config
    app = App(outdir=str(outdir))
    BootstrapStack(app, f"{BOOTSTRAP_PREFIX}home", config=config, kind="home", options=options)
    BootstrapStack(app, f"{BOOTSTRAP_PREFIX}management", config=config, kind="management", options=options)
    if config.central_backup.account_id not in config.member_accounts:  # else the StackSet gives it its roles
        BootstrapStack(app, f"{BOOTSTRAP_PREFIX}central", config=config, kind="central", options=options)
    if config.pipeline.enabled:  # else another CI system runs make plan / make deploy as pipeline.deployers
        source = config.pipeline.source
        if source is None:  # config_security requires it while the pipeline is on
            raise ValueError("the pipeline stack needs pipeline.source")
        pr_approval = lambda_package.build("pr_approval") if isinstance(source, CodeCommitSource) else None
        PipelineStack(app, PIPELINE_STACK, config=config, options=options, pr_approval=pr_approval)
    ManagementStack(app, MANAGEMENT_STACK, config=config, scps=list(inputs.scps), options=options)
    BackupPoliciesStack(
        app,
        BACKUP_POLICIES_STACK,
        config=config,
        backup_policies=list(inputs.backup_policies),
        options=options,
        retired_plans=inputs.plans.retired_plans,
    )
    restore_validation = lambda_package.build("restore_validation") if config.restore_testing.active else None
    CentralBackupStack(app, CENTRAL_STACK, config=config, restore_validation=restore_validation, options=options)
    # Built once, deterministically, and copied into each member stack as a Terraform asset.
    tag_reapply = lambda_package.build("tag_reapply") if config.tag_reapply.enabled else None
    for ou in config.target_ous:
        for account_id in ou.accounts:
            if members is not None and account_id not in members:
                continue
            # One framework per Region, its controls derived from the plans of the OU (org_backup.plans.audit).
            frameworks = (
                {r: audit.controls(config, inputs.plans, account_id, ou.id, r)[0] for r in config.target_regions}
                if config.audit.frameworks.enabled
                else {}
            )
            MemberAccountStack(
                app,
                member_stack(account_id),
                config=config,
                account_id=account_id,
                tag_reapply=tag_reapply,
                frameworks=frameworks,
                index_ebs=indexes_ebs(inputs.plans, config, ou.id),
                options=options,
            )
    return app


def synthesize(
    *,
    inputs: Inputs,
    outdir: Path,
    options: SynthOptions,
    checked: Callable[[Path], None] | None = None,
    stamping: bool = True,
) -> list[str]:
    """Synthesize the organization into ``outdir``; returns the stack names. ``checked`` sees the staged output
    once it passed every check, before it is swapped in (the synth cache keeps a copy then). With ``stamping``,
    CDKTF builds two member stacks per shape and the others are written from them (``org_backup.synth.member_stamp``):
    the same files, in a time that grows with the shapes, not the accounts."""
    config = inputs.config
    members = {a for shape in member_stamp.shapes(config) for a in shape.built} if stamping else None

    def extend(staging: Path) -> list[str]:
        try:
            return member_stamp.stamp(staging, config)
        except member_stamp.StampError as exc:
            raise SynthError(str(exc)) from None

    return synth_atomically(
        lambda staging: build_app(inputs=inputs, outdir=staging, options=options, members=members),
        outdir,
        checked=checked,
        extend=extend if stamping else None,
    )


def synth_atomically(
    build: Callable[[Path], App],
    outdir: Path,
    *,
    checked: Callable[[Path], None] | None = None,
    extend: Callable[[Path], list[str]] | None = None,
) -> list[str]:
    """Synthesize into a staging directory beside ``outdir``, check it, then swap it in (``synth_output``); on
    any error ``outdir`` is untouched.

    cdktf writes its output before it raises on error annotations, so writing in place would leave a
    half-valid cdktf.out behind. ``extend`` writes more stacks beside CDKTF's and returns their names. The
    org-wide rules (``org_backup.synth.rules``) are checked on the staged JSON of every stack.
    """

    def fill(staging: Path) -> list[str]:
        app = build(staging)
        _synth_or_raise(app, staging)
        names = [child.node.id for child in app.node.children if isinstance(child, TerraformStack)]
        names = sorted(names + (extend(staging) if extend is not None else []))
        _check_rules(staging, names)
        if checked is not None:
            checked(staging)
        return names

    return synth_output.replace(outdir, fill)


# cdktf's level for Annotations.add_error in the manifest it writes (cdktf 0.21).
_ERROR_LEVEL = "@cdktf/error"


def _synth_or_raise(app: App, staging: Path) -> None:
    """Synthesize into ``staging``; raise SynthError if any construct carries an error annotation.

    cdktf raises on error annotations before it writes its manifest, unless CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS
    is set, which the cdktf CLI does for every synth: then it writes the manifest, errors listed in it, and returns.
    Both ways end here, so stacks that carry an error never leave the staging directory, whoever runs the synth.
    """
    try:
        app.synth()
    except Exception as exc:  # jsii surfaces cdktf's annotation failure as a generic error
        message = str(exc)
        if "Encountered Annotations" not in message:
            raise
        # One "[construct path] message" line per error between cdktf's header and its hint (which suggests the
        # variable org-backup does not honour).
        errors = [line for line in message.split("Either fix the issues above")[0].splitlines()[1:] if line.strip()]
    else:
        manifest = json.loads((staging / "manifest.json").read_text(encoding="utf-8"))
        errors = [
            f"[{annotation['constructPath']}] {annotation['message']}"
            for stack in manifest["stacks"].values()
            for annotation in stack.get("annotations", [])
            if annotation["level"] == _ERROR_LEVEL
        ]
    if errors:
        raise SynthError("synth found errors:\n" + "\n".join(f"  - {error.strip()}" for error in errors))


def _check_rules(staging: Path, names: list[str]) -> None:
    found = [
        violation
        for name in names
        for violation in synth_rules.violations(
            name, json.loads((staging / "stacks" / name / "cdk.tf.json").read_text(encoding="utf-8"))
        )
    ]
    if found:
        raise SynthError("synth found violations of org-wide rules:\n" + "\n".join(f"  - {v}" for v in found))
