"""Build every stack from one config and synthesize atomically: a failed synth leaves the output untouched."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from cdktf import App, Aspects, TerraformStack

from org_backup import lambda_package
from org_backup.inputs import Inputs
from org_backup.naming import BOOTSTRAP_PREFIX, CENTRAL_STACK, MANAGEMENT_STACK, PIPELINE_STACK, member_stack
from stacks.aspects import EncryptionGuardrails
from stacks.bootstrap import BootstrapStack
from stacks.central_backup import CentralBackupStack
from stacks.common import SynthOptions
from stacks.management import ManagementStack
from stacks.member_account import MemberAccountStack
from stacks.pipeline import PipelineStack


class SynthError(Exception):
    """Synth produced error annotations (an org-wide rule is violated)."""


def build_app(*, inputs: Inputs, outdir: Path, options: SynthOptions) -> App:
    config = inputs.config
    app = App(outdir=str(outdir))
    BootstrapStack(app, f"{BOOTSTRAP_PREFIX}home", config=config, kind="home", options=options)
    BootstrapStack(app, f"{BOOTSTRAP_PREFIX}management", config=config, kind="management", options=options)
    if config.central_backup.account_id not in config.member_accounts:  # else the StackSet gives it its roles
        BootstrapStack(app, f"{BOOTSTRAP_PREFIX}central", config=config, kind="central", options=options)
    PipelineStack(app, PIPELINE_STACK, config=config, options=options)
    ManagementStack(
        app,
        MANAGEMENT_STACK,
        config=config,
        backup_policies=list(inputs.backup_policies),
        scps=list(inputs.scps),
        options=options,
    )
    CentralBackupStack(app, CENTRAL_STACK, config=config, options=options)
    # Built once, deterministically, and copied into each member stack as a Terraform asset.
    tag_reapply = lambda_package.build("tag_reapply") if config.tag_reapply.enabled else None
    for account_id in config.member_accounts:
        MemberAccountStack(
            app,
            member_stack(account_id),
            config=config,
            account_id=account_id,
            tag_reapply=tag_reapply,
            options=options,
        )
    # cdktf invokes aspects from each stack downward, so an aspect added to the App would never run.
    for child in app.node.children:
        if isinstance(child, TerraformStack):
            Aspects.of(child).add(EncryptionGuardrails())
    return app


def synthesize(*, inputs: Inputs, outdir: Path, options: SynthOptions) -> list[str]:
    """Synthesize the organization into ``outdir``; returns the stack names."""
    return synth_atomically(lambda staging: build_app(inputs=inputs, outdir=staging, options=options), outdir)


def synth_atomically(build: Callable[[Path], App], outdir: Path) -> list[str]:
    """Synthesize into a staging directory beside ``outdir``, then swap it in; on any error ``outdir`` is untouched.

    cdktf writes its output before it raises on error annotations, so writing in place would leave a
    half-valid cdktf.out behind.
    """
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.staging-", dir=outdir.parent))
    try:
        app = build(staging)
        _synth_or_raise(app)
        previous = outdir.with_name(f".{outdir.name}.previous-{os.getpid()}")
        if outdir.exists():
            outdir.rename(previous)
        staging.rename(outdir)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(child.node.id for child in app.node.children if isinstance(child, TerraformStack))


def _synth_or_raise(app: App) -> None:
    try:
        app.synth()
    except Exception as exc:  # jsii surfaces cdktf's annotation failure as a generic error
        if "Encountered Annotations" not in str(exc):
            raise
    # Checked here too: CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS would otherwise let violations through.
    errors = [
        f"{construct.node.path}: {entry.data}"
        for construct in app.node.find_all()
        for entry in construct.node.metadata
        if entry.type == "@cdktf/error"
    ]
    if errors:
        raise SynthError("synth found violations of org-wide rules:\n" + "\n".join(f"  - {e}" for e in errors))
