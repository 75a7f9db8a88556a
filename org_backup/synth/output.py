"""The synthesized output directory (cdktf.out): filled in a staging directory beside it, then swapped in, so a
failed synth leaves it untouched; Terraform's files in the previous output's stack folders move into the new one.

Free of the CDKTF bindings: a synth cache hit (``org_backup.synth.cache``) replaces the output without loading
them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# What Terraform keeps inside a stack's folder: local state (bootstrap stacks, state_backend local), the working
# directory (.terraform: backend settings, providers) and the provider lock file.
TERRAFORM_WORKING_FILES = ("terraform.tfstate", "terraform.tfstate.backup", ".terraform", ".terraform.lock.hcl")
RETIRED_STACKS = "retired-stacks"


def replace(outdir: Path, fill: Callable[[Path], list[str]]) -> list[str]:
    """``fill(staging)`` writes the new output and returns its stack names; then it replaces ``outdir``. If
    ``fill`` raises, ``outdir`` is as it was."""
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.staging-", dir=outdir.parent))
    previous = outdir.with_name(f".{outdir.name}.previous-{os.getpid()}")
    try:
        names = fill(staging)
        if outdir.exists():
            outdir.rename(previous)
        staging.rename(outdir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if previous.exists():
        # Deleted only once its Terraform state is safe in the new output: if moving fails, it stays on disk.
        _carry_over_terraform_state(previous, outdir)
        shutil.rmtree(previous)
    return names


def _carry_over_terraform_state(previous: Path, outdir: Path) -> None:
    """Move every stack's Terraform files from the previous output into the new one: synth must never lose state.

    A stack that is no longer synthesized but has local state (say bootstrap-central once the central account
    joins a target OU) moves whole, its old cdk.tf.json included, to ``cdktf.out/retired-stacks/<stack>``, so
    its resources can still be destroyed or migrated from there; nothing runs it by accident.
    """
    for directories in (previous / "stacks", previous / RETIRED_STACKS):
        if not directories.is_dir():
            continue
        for old in sorted(p for p in directories.iterdir() if p.is_dir()):
            found = [old / name for name in TERRAFORM_WORKING_FILES if (old / name).exists()]
            new = outdir / "stacks" / old.name
            if new.is_dir():  # still synthesized (or synthesized again after being retired)
                for item in found:
                    item.rename(new / item.name)
            elif any(item.name.startswith("terraform.tfstate") for item in found):
                (outdir / RETIRED_STACKS).mkdir(exist_ok=True)
                old.rename(outdir / RETIRED_STACKS / old.name)
                print(
                    f"Note: {old.name} is no longer synthesized but has Terraform state; kept in "
                    f"{outdir / RETIRED_STACKS / old.name}. Destroy or migrate its resources from there.",
                    file=sys.stderr,
                )
