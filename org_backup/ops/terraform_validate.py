"""``terraform validate`` of every synthesized stack with the real provider: ``make validate``, the tests.

    python -m org_backup.ops.terraform_validate [cdktf.out]

Cost: a validate spends ~3.8 s of CPU loading the hashicorp/aws schema (Terraform and the provider each decode it)
and well under a second on the stack's own resources. So stacks are validated in batches, one Terraform process
per core at a time: a batch is a root module (``build/terraform-validate/<batch>/main.tf.json``) whose child modules
are the stacks' own folders, unchanged, so the schema is loaded once per batch instead of once per stack (9 stacks
in one batch: 9.4 s of CPU instead of ~34 s one by one, measured on this project's 2-core machine).

What a child module is validated for is what the stack is validated for alone: every resource, data source and
provider block against the provider's schema, references and types. Two things differ, both handled here:
- Terraform warns "Backend configuration ignored" for each stack (a child module's backend is ignored, as ``init
  -backend=false`` ignores it when a stack is validated alone): that warning, with that summary, is dropped.
- Diagnostics are reported per batch: each is given to the stack whose file (``range.filename``) or module
  (``address``) it names; one that names neither is given to every stack of its batch, so nothing is lost.
A stack is never validated in a batch with another that pins other providers (each batch has one installation).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from org_backup.ops import scan_set
from org_backup.ops.provider_lock import LOCK_FILE
from org_backup.ops.terraform import TerraformEnv, TerraformError, required_providers, stack_dirs, workers

# Measured on this project's suite (5 configs, 40 distinct stacks): 2 batches peaked at 6.6 GiB summed PSS, more
# than a 7 GB CodeBuild build (the pipeline's Validate stage) has; batches of at most 6 peaked at 3.4 GiB, for 12 s
# more CPU (57 -> 70 s for the whole validate test).
MAX_BATCH = 6
BATCH_WARNING = "Backend configuration ignored"  # a child module's backend block: see the module docstring


@dataclass(frozen=True)
class Validation:
    """The ``terraform validate -json`` result of one stack; ``same_shape_as`` names the stack that was actually
    validated when this one differs from it only in its own account id (``org_backup.ops.scan_set``)."""

    result: dict[str, object]
    same_shape_as: str | None = None

    @property
    def valid(self) -> bool:
        return bool(self.result.get("valid"))


def _batches(jobs: list[Path]) -> list[list[Path]]:
    """Batches of stacks pinning the same providers, balanced by size: one per core, more when a batch would
    exceed MAX_BATCH stacks (Terraform starts a provider process per provider configuration of every stack in
    it, so memory grows with the batch)."""
    by_providers: dict[str, list[Path]] = {}
    for job in jobs:
        by_providers.setdefault(json.dumps(required_providers(job), sort_keys=True), []).append(job)
    batches: list[list[Path]] = []
    for group in by_providers.values():
        count = min(max(workers(), -(-len(group) // MAX_BATCH)), len(group))
        sized = sorted(group, key=lambda p: -(p / "cdk.tf.json").stat().st_size)
        split: list[list[Path]] = [[] for _ in range(count)]
        for index, job in enumerate(sized):
            split[index % count].append(job)
        batches += [sorted(batch) for batch in split]
    return batches


def validate_batch(env: TerraformEnv, stacks: list[Path]) -> dict[Path, dict[str, object]]:
    """One ``terraform validate -json`` of ``stacks`` as child modules of a generated root module."""
    digest = hashlib.sha256("\n".join(str(s.resolve()) for s in stacks).encode()).hexdigest()[:16]
    root = env.build_dir / "terraform-validate" / digest
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    names = {f"stack_{index}": stack.resolve() for index, stack in enumerate(stacks)}
    modules = {name: {"source": os.path.relpath(path, root)} for name, path in names.items()}
    (root / "main.tf.json").write_text(json.dumps({"module": modules}, indent=1), encoding="utf-8")
    data_dir = root / ".terraform"
    env.init(root, data_dir=data_dir)
    output = env.run(root, "validate", "-json", "-no-color", check=False, data_dir=data_dir)
    try:
        report = cast(dict[str, Any], json.loads(output.stdout))
    except json.JSONDecodeError:
        raise TerraformError(
            f"terraform validate gave no report in {root} (exit {output.returncode}):\n{output.stderr[-4000:]}"
        ) from None
    for stack in stacks:  # the lock file init would write beside the stack, from this batch's installation
        if not (stack / LOCK_FILE).is_file():
            shutil.copyfile(root / LOCK_FILE, stack / LOCK_FILE)
    found: dict[Path, list[dict[str, Any]]] = {stack: [] for stack in stacks}
    for diagnostic in report.get("diagnostics", []):
        if diagnostic.get("severity") == "warning" and diagnostic.get("summary") == BATCH_WARNING:
            continue
        owners = _owners(diagnostic, root, names)
        for stack in owners or stacks:
            found[stack].append(diagnostic)
    # Terraform failing with no error to show for it fails every stack of the batch rather than none.
    unexplained = output.returncode != 0 and not any(
        d.get("severity") == "error" for d in report.get("diagnostics", [])
    )
    results: dict[Path, dict[str, object]] = {}
    for stack, diagnostics in found.items():
        errors = sum(d.get("severity") == "error" for d in diagnostics)
        results[stack] = {
            "valid": errors == 0 and not unexplained,
            "error_count": errors,
            "warning_count": len(diagnostics) - errors,
            "diagnostics": diagnostics,
        }
    return results


def _owners(diagnostic: dict[str, Any], root: Path, names: dict[str, Path]) -> list[Path]:
    filename = (diagnostic.get("range") or {}).get("filename")
    if filename:
        where = (root / filename).resolve()
        return [path for path in names.values() if where.is_relative_to(path)]
    address = str(diagnostic.get("address") or "")
    return [
        path for name, path in names.items() if address == f"module.{name}" or address.startswith(f"module.{name}.")
    ]


def validate_all(
    outdirs: Iterable[Path], progress: Callable[[str], None] | None = None
) -> dict[Path, dict[str, Validation]]:
    """Validate every synthesized stack of each output directory, in batches (one Terraform process per core).

    A member stack that is byte-identical to another once each one's own account id is replaced by a placeholder
    (``scan_set.representatives``) is not validated again: validation checks types, formats and references, and
    no rule of it depends on which 12 digits an account id has. Its result is the representative's, labelled so.
    """
    env = TerraformEnv.prepare()
    groups = {outdir: scan_set.representatives(outdir) for outdir in outdirs}
    jobs = [outdir / "stacks" / stack for outdir, group in groups.items() for stack in group]
    results: dict[Path, dict[str, object]] = {}
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        futures = [pool.submit(validate_batch, env, batch) for batch in _batches(jobs)]
        for future in as_completed(futures):
            for job, result in future.result().items():
                results[job] = result
                if progress is not None:  # one line per stack as its batch finishes
                    verdict = "valid" if result.get("valid") else "INVALID"
                    progress(f"[{len(results)}/{len(jobs)}] {job.name}: {verdict}")
    report: dict[Path, dict[str, Validation]] = {}
    for outdir, group in groups.items():
        report[outdir] = {}
        for stack, same in group.items():
            result = results[outdir / "stacks" / stack]
            report[outdir][stack] = Validation(result)
            report[outdir].update({other: Validation(result, same_shape_as=stack) for other in same})
        report[outdir] = dict(sorted(report[outdir].items()))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m org_backup.ops.terraform_validate")
    parser.add_argument("outdir", nargs="?", default="cdktf.out")
    outdir = Path(parser.parse_args(argv).outdir)
    stack_dirs(outdir)  # a missing output directory is an error with its fix, before any Terraform runs
    results = validate_all([outdir], progress=lambda line: print(line, flush=True))[outdir]
    failed = 0
    for name, validation in results.items():
        failed += not validation.valid
        shape = f" (same shape as {validation.same_shape_as}, validated once)" if validation.same_shape_as else ""
        print(f"{'valid  ' if validation.valid else 'INVALID'} {name}{shape}")
        if validation.same_shape_as:
            continue
        for diag in cast(list[dict[str, str]], validation.result.get("diagnostics", [])):
            print(f"    {diag.get('severity')}: {diag.get('summary')} {diag.get('detail', '')}")
    print(f"{len(results) - failed} valid, {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
