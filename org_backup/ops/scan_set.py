"""What `make scan` gives checkov: every synthesized stack, except that member stacks identical but for their
account id are scanned once.

checkov takes ~0.16 s per stack here (160 s for 1,000 member stacks), and a thousand member stacks are one shape
repeated. Two member stacks are the same shape when replacing each one's own account id by a placeholder makes
their cdk.tf.json byte-identical; the first (by name) represents the others. The assumption this rests on: no
checkov check passes or fails because of the digits of an account id. Relations survive the substitution: a member
that is also the central account, for example, refers to itself where others refer to the central account, so its
normalized text differs and it is scanned on its own.

Terraform's ``removed`` blocks (the management stack's, when the policies are delegated: stacks/management.py) are
left out of the copy: they hold no resource to check, and checkov 3.3's terraform_json parser fails on any unlabeled
block whose attributes are strings ("Failed to parse template", a parsing error that would leave the whole stack
unchecked). Every resource stays.

    python -m org_backup.ops.scan_set cdktf.out build/scan
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from org_backup.config.naming import MEMBER_STACK_PREFIX

PLACEHOLDER = "000000000000"


def shape(stack_dir: Path) -> str:
    text = (stack_dir / "cdk.tf.json").read_text(encoding="utf-8")
    if stack_dir.name.startswith(MEMBER_STACK_PREFIX):
        text = text.replace(stack_dir.name.removeprefix(MEMBER_STACK_PREFIX), PLACEHOLDER)
    return hashlib.sha256(text.encode()).hexdigest()


def representatives(outdir: Path) -> dict[str, list[str]]:
    """{stack scanned: [member stacks of the same shape it stands for]}; non-member stacks stand for themselves."""
    groups: dict[str, list[str]] = {}
    chosen: dict[str, str] = {}
    for stack_dir in sorted(p for p in (outdir / "stacks").iterdir() if p.is_dir()):
        key = shape(stack_dir) if stack_dir.name.startswith(MEMBER_STACK_PREFIX) else stack_dir.name
        if key in chosen:
            groups[chosen[key]].append(stack_dir.name)
        else:
            chosen[key] = stack_dir.name
            groups[stack_dir.name] = []
    return groups


def build(outdir: Path, scan_dir: Path) -> dict[str, list[str]]:
    """Copy the representatives' cdk.tf.json into ``scan_dir/<stack>/`` (replacing what was there)."""
    groups = representatives(outdir)
    if scan_dir.exists():
        shutil.rmtree(scan_dir)
    for stack in groups:
        copy(outdir / "stacks" / stack, scan_dir / stack)
    return groups


def copy(stack_dir: Path, target: Path) -> None:
    """The stack's cdk.tf.json as checkov reads it: without ``removed`` blocks (module docstring)."""
    document = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    document.pop("removed", None)
    target.mkdir(parents=True, exist_ok=True)
    (target / "cdk.tf.json").write_text(json.dumps(document, indent=2), encoding="utf-8")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m org_backup.ops.scan_set <cdktf.out> <scan dir>", file=sys.stderr)
        return 2
    groups = build(Path(argv[0]), Path(argv[1]))
    stood_for = sum(len(v) for v in groups.values())
    print(f"checkov scans {len(groups)} stacks in {argv[1]}; {stood_for} member stacks share a scanned stack's shape.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
