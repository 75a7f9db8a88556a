"""Outputs of earlier synths, keyed by everything a synth reads, so an unchanged synth is a copy, not a rebuild.

A synth is a pure function of: the validated inputs (config with its accounts snapshot, rendered backup policies
and SCPs), the synth options (role, local API), the code that builds stacks (``main.py``, ``stacks/``,
``org_backup/``, the policy templates in ``policies/``, the Lambda sources in ``lambda_src/``), the locked package
versions (``Pipfile.lock`` and the installed cdktf, provider bindings, constructs and jsii) and the Python version.
The key hashes all of them; change any byte and the key changes. That is what makes ``make plan`` after ``make
bootstrap`` (and ``make deploy`` after ``make plan``, which synthesize for another role) cost a copy instead of a
synth: seconds for the example, minutes for thousands of accounts.

Entries live in ``build/synth-cache/<key>/`` with a list of their files' SHA-256: an entry that does not match its
list (edited, half-deleted) is removed and the synth runs. The newest ``KEEP`` entries are kept. Nothing here
reads Terraform state: entries are copied from the staging directory before any state is moved into it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from org_backup.config.paths import BUILD_DIR, PROJECT_ROOT
from org_backup.synth import output as synth_output
from org_backup.synth.inputs import Inputs

KEEP = 4  # both roles, and the previous config of each
FILES = "files.json"
CODE = ("main.py", "cdktf.json", "Pipfile.lock", "org_backup", "stacks", "policies", "lambda_src")
PACKAGES = ("cdktf", "cdktf-cdktf-provider-aws", "constructs", "jsii")


def _code_files(root: Path) -> list[Path]:
    found = []
    for name in CODE:
        path = root / name
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(found)


def _file_digests(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != FILES
    }


@dataclass(frozen=True)
class SynthCache:
    directory: Path = BUILD_DIR / "synth-cache"
    root: Path = PROJECT_ROOT  # where the code that synthesizes lives

    def key(self, inputs: Inputs, *, role: str, local_api: bool) -> str:
        """SHA-256 of everything the synth reads (the role and local_api of stacks.common.SynthOptions)."""
        digest = hashlib.sha256(b"org-backup synth cache v1\0")
        described = {
            "inputs": {
                "config": inputs.config.model_dump(mode="json"),
                "backup_policies": [dataclasses.asdict(p) for p in inputs.backup_policies],
                "scps": [dataclasses.asdict(s) for s in inputs.scps],
            },
            "options": {"role": role, "local_api": local_api},
            "python": list(sys.version_info[:2]),
            "packages": {name: metadata.version(name) for name in PACKAGES},
        }
        digest.update(json.dumps(described, sort_keys=True, separators=(",", ":")).encode())
        for path in _code_files(self.root):
            digest.update(b"\0" + path.relative_to(self.root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()

    def install(self, key: str, outdir: Path) -> list[str] | None:
        """Replace ``outdir`` with the entry for ``key`` (Terraform state carried over, as after a synth) and
        return its stack names; None when there is no entry, or when it does not match its list of files (then it
        is removed, with a note, and ``outdir`` is untouched)."""
        entry = self.directory / key
        listed = entry / FILES
        if not listed.is_file():
            return None
        if json.loads(listed.read_text(encoding="utf-8")) != _file_digests(entry):
            print(f"Note: synth cache entry {entry} does not match its file list; removed.", file=sys.stderr)
            shutil.rmtree(entry, ignore_errors=True)
            return None

        def fill(staging: Path) -> list[str]:
            shutil.copytree(entry, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(FILES))
            return sorted(p.name for p in (staging / "stacks").iterdir() if p.is_dir())

        names = synth_output.replace(outdir, fill)
        os.utime(entry)  # most recently used: kept longest
        return names

    def store(self, key: str, staging: Path) -> None:
        """Keep a copy of a checked synth output under ``key``; written aside, then renamed into place."""
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = self.directory / key
        if entry.exists():
            return
        temporary = Path(tempfile.mkdtemp(prefix=".entry-", dir=self.directory))
        try:
            shutil.copytree(staging, temporary, dirs_exist_ok=True)
            (temporary / FILES).write_text(json.dumps(_file_digests(temporary), indent=1), encoding="utf-8")
            temporary.rename(entry)
        except OSError:
            if not entry.exists():  # another synth may have stored the same key meanwhile: that is fine
                raise
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        entries = sorted(
            (p for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in entries[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)
