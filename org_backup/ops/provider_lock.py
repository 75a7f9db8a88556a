"""The committed provider lock file (``terraform-providers.lock.hcl``) and what ``org_backup.ops.terraform`` does
with it: read which providers it locks, check a configuration's providers against it, and put it, byte for byte, in
every folder Terraform runs ``init`` in (with ``-lockfile=readonly``, so a package matching none of its hashes fails
instead of being recorded). No Terraform runs here."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path

from org_backup.config.paths import PROJECT_ROOT

LOCK_FILE = ".terraform.lock.hcl"
# The committed lock file (see the module docstring); not named .terraform.lock.hcl so that nothing mistakes the
# repository root for a Terraform configuration and rewrites it.
PROVIDER_LOCK = PROJECT_ROOT / "terraform-providers.lock.hcl"
# Where the pipeline (CodeBuild, linux x86_64) and developers (Linux, macOS) run Terraform: `relock` hashes these.
LOCK_PLATFORMS = ("linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64")
RELOCK_HINT = (
    "Fix: add the provider to the committed lock file: `make providers-lock` (python -m org_backup.ops.terraform relock: "
    f"terraform providers lock -platform={' -platform='.join(LOCK_PLATFORMS)} from the registry, or "
    "--fs-mirror <mirror> for the platforms a mirror holds), compare the new zh: hashes with an independent source, "
    "and commit terraform-providers.lock.hcl."
)


def provider_address(local_name: str, requirement: object) -> str:
    """The fully qualified address Terraform gives a ``required_providers`` entry: ``aws`` and ``hashicorp/aws``
    are both ``registry.terraform.io/hashicorp/aws`` (addresses are case-insensitive; Terraform writes them
    lower-case). An entry that is only a version string has no source: the local name is the type."""
    source = requirement.get("source") if isinstance(requirement, dict) else None
    parts = str(source or local_name).lower().split("/")
    if len(parts) == 1:
        parts = ["hashicorp", *parts]
    if len(parts) == 2:
        parts = ["registry.terraform.io", *parts]
    return "/".join(parts)


def locked_providers(lock: Path) -> dict[str, str]:
    """{provider address: version} of a Terraform dependency lock file."""
    text = lock.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for block in re.finditer(r'^provider\s+"([^"]+)"\s*\{(.*?)^\}', text, flags=re.MULTILINE | re.DOTALL):
        version = re.search(r'^\s*version\s*=\s*"([^"]+)"', block.group(2), flags=re.MULTILINE)
        found[block.group(1).lower()] = version.group(1) if version else ""
    return found


def unlocked(requirements: Iterable[tuple[str, object]], lock: Path) -> list[str]:
    """What ``lock`` fails to lock of ``requirements`` (``required_providers`` entries): a provider it lacks, or an
    exact version other than the one it locks. Only an exact version is compared; Terraform checks other
    constraints."""
    locked = locked_providers(lock)
    problems: list[str] = []
    for name, requirement in sorted(requirements, key=lambda item: item[0]):
        settings = requirement if isinstance(requirement, dict) else {"version": requirement}
        address = provider_address(name, requirement)
        wanted = str(settings.get("version", "")).strip()
        exact = re.fullmatch(r"=?\s*(\d+\.\d+\.\d+\S*)", wanted)
        if address not in locked:
            problem = f"{address} {wanted or '(any version)'}: not in the lock file"
        elif exact and exact.group(1) != locked[address]:
            problem = f"{address} {exact.group(1)}: the lock file has {locked[address]}"
        else:
            continue
        if problem not in problems:
            problems.append(problem)
    return problems


def place_lock_file(lock: Path, directory: Path) -> None:
    """Put ``lock`` in ``directory`` as Terraform's lock file, byte for byte, replacing whatever is there."""
    data = lock.read_bytes()
    target = directory / LOCK_FILE
    if target.is_file() and target.read_bytes() == data:
        return
    # Replaced in one step: another thread's terraform may be reading the stack's lock file (validate batches).
    staging = directory / f".{LOCK_FILE}.{os.getpid()}.{threading.get_ident()}"
    staging.write_bytes(data)
    staging.replace(target)


def configured_providers(directory: Path) -> list[tuple[str, object]]:
    """The ``required_providers`` entries of the configuration in ``directory`` and of the local modules it calls
    (a validation batch's root module calls stacks)."""
    found: list[tuple[str, object]] = []
    for path in sorted(directory.glob("*.tf.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        found += document.get("terraform", {}).get("required_providers", {}).items()
        for module in document.get("module", {}).values():
            source = str(module.get("source", ""))
            if source.startswith(("./", "../")):
                found += configured_providers((directory / source).resolve())
    return found
