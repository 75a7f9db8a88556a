"""Run the real Terraform CLI over synthesized stacks: our own CLI config, provider mirror, init, lock and plan.

Provider installation: if ``TF_PROVIDER_MIRROR`` names a folder, or a Terraform filesystem mirror holding
hashicorp/aws is found on this machine, providers come from it and never from the network; otherwise Terraform
installs them from the registry as usual. Either way we write our own CLI config under the build folder and
point ``TF_CLI_CONFIG_FILE`` at it for our commands only, so a user's ~/.terraformrc is never touched.

Provider lock: every lock file these commands put in a stack, or in any folder they run ``terraform init`` in, is
the committed ``terraform-providers.lock.hcl``, byte for byte, and providers are installed with
``-lockfile=readonly``: a package matching none of its hashes fails the command, and no lock file is ever
written from whatever was downloaded. A stack pinning a provider (or version) the committed file does not lock
fails before Terraform runs, saying how to add it (``make providers-lock``, ``python -m org_backup.ops.terraform
relock``).

``org_backup.ops.terraform_validate`` validates every stack with this environment (``make validate``).
``python -m org_backup.ops.terraform lock cdktf.out [stack ...]`` installs the stacks' providers against the committed
lock file (once per set of providers) and copies that file into each stack (``make synth``, ``make deploy``): with
one in place, ``cdktf diff``/``deploy`` skip their ``terraform providers lock``, which ignores a CLI config's
filesystem mirror and needs the registry.
``python -m org_backup.ops.terraform cli-config`` writes ``build/terraform.rc`` and prints its path, for
``TF_CLI_CONFIG_FILE`` of the Terraform that cdktf runs.

Cost model (measured with hashicorp/aws 5.100.0 on a 2-core machine): every provider process that handles a
resource pays ~3 s of CPU start-up, and Terraform starts one per provider configuration (alias) per graph walk:
validate 1 + a processes, plan 1 + 2a, apply or destroy 1 + 3a, for a stack with ``a`` Regions. So the runner
avoids work that cannot change a result: stacks of one shape are validated once (and in batches:
``org_backup.ops.terraform_validate``), and one provider installation serves every stack that pins the same providers.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from org_backup.config.naming import RETIRED_PLANS_LOCAL
from org_backup.config.paths import BUILD_DIR
from org_backup.ops import plan_guard, provider_lock
from org_backup.ops.plan_shards import PlanResult, render_summary
from org_backup.ops.provider_lock import LOCK_FILE, LOCK_PLATFORMS, PROVIDER_LOCK, configured_providers, place_lock_file

_MIRROR_PROBE = "registry.terraform.io/hashicorp/aws"
# Provider installation is not safe to run concurrently ("file exists" in the plugin cache); init is ~0.4 s, so
# every init is serialised and only the expensive commands (validate, plan, apply) run in parallel.
_INIT_LOCK = threading.Lock()


class TerraformError(Exception):
    pass


def workers() -> int:
    """Terraform processes to run at once: one per core (each is CPU-bound while its providers start)."""
    return os.cpu_count() or 1


def find_provider_mirror() -> Path | None:
    """The root of a filesystem mirror that holds hashicorp/aws: TF_PROVIDER_MIRROR, else a search of this machine."""
    configured = os.environ.get("TF_PROVIDER_MIRROR")
    if configured:
        root = Path(configured)
        if not (root / _MIRROR_PROBE).is_dir():
            raise TerraformError(
                f"TF_PROVIDER_MIRROR={configured} has no {_MIRROR_PROBE}/ folder. Fix: point it at the folder that "
                "contains registry.terraform.io/, or unset it to install providers from the registry."
            )
        return root
    return _search_provider_mirror()


@functools.cache
def _search_provider_mirror() -> Path | None:
    """Searched once per process: the walk of / takes ~0.3 s and the answer does not change while we run."""
    found = subprocess.run(
        ["find", "/", "-maxdepth", "5", "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "/dev", ")",
         "-prune", "-o", "-type", "d", "-path", f"*/{_MIRROR_PROBE}", "-print"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()  # fmt: skip
    if not found:
        return None
    return Path(sorted(found)[0]).parents[2]


@dataclass(frozen=True)
class TerraformEnv:
    """Environment for our terraform commands: CLI config, plugin cache, no update checks.

    ``variables`` are added to the environment of every command (the tests' ``AWS_ENDPOINT_URL`` of a local API).
    """

    cli_config: Path
    mirror: Path | None
    build_dir: Path = BUILD_DIR
    variables: tuple[tuple[str, str], ...] = ()
    provider_lock: Path = PROVIDER_LOCK

    @classmethod
    def prepare(
        cls, build_dir: Path = BUILD_DIR, *, provider_lock: Path = PROVIDER_LOCK, **variables: str
    ) -> TerraformEnv:
        build_dir.mkdir(parents=True, exist_ok=True)
        mirror = find_provider_mirror()
        if mirror is not None:
            # An unpacked mirror is linked, not copied, into each stack: it is its own cache. A plugin cache on
            # top of it gets re-linked by every init and breaks a validate running at the same moment.
            lines = [
                "provider_installation {",
                f"  filesystem_mirror {{\n    path    = {json.dumps(str(mirror))}",
                '    include = ["registry.terraform.io/hashicorp/*"]\n  }',
                '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }',
                "}",
            ]
        else:
            cache = build_dir / "plugin-cache"
            cache.mkdir(exist_ok=True)
            lines = [f"plugin_cache_dir = {json.dumps(str(cache))}"]
        cli_config = build_dir / "terraform.rc"
        text = "\n".join(lines) + "\n"
        # Rewritten only when it changes: a terraform process running in another thread may be reading it.
        if not cli_config.is_file() or cli_config.read_text(encoding="utf-8") != text:
            cli_config.write_text(text, encoding="utf-8")
        return cls(
            cli_config=cli_config,
            mirror=mirror,
            build_dir=build_dir,
            variables=tuple(sorted(variables.items())),
            provider_lock=provider_lock,
        )

    def environ(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.variables)
        env.update(
            TF_CLI_CONFIG_FILE=str(self.cli_config),
            CHECKPOINT_DISABLE="1",
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            **extra,
        )
        return env

    def run(
        self, stack_dir: Path, *args: str, check: bool = True, timeout: int = 900, data_dir: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["terraform", *args],
            cwd=stack_dir,
            env=self.environ(**({"TF_DATA_DIR": str(data_dir)} if data_dir else {})),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise TerraformError(
                f"terraform {' '.join(args)} failed in {stack_dir} (exit {result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def init(self, stack_dir: Path, *, backend: bool = False, data_dir: Path | None = None) -> None:
        """``terraform init`` against the committed lock file, which is put in ``stack_dir`` first (replacing any
        other): providers the configuration (and its local modules) pins must be in it, and packages must match it."""
        check_locked(configured_providers(stack_dir), self.provider_lock, where=str(stack_dir))
        with _INIT_LOCK:
            place_lock_file(self.provider_lock, stack_dir)
            args = ("init", "-input=false", "-no-color", f"-backend={str(backend).lower()}", "-lockfile=readonly")
            self.run(stack_dir, *args, data_dir=data_dir)

    def shared_providers(self, stack_dir: Path) -> Path:
        """A Terraform data directory with the providers ``stack_dir`` pins, installed (against the committed lock
        file) once for every stack that pins the same ones; the committed lock file is put in ``stack_dir``, where
        init would write one.

        Only for commands that need no backend (``lock``): with ``TF_DATA_DIR`` pointing at it, the stack's own
        ``.terraform`` (backend settings of a real deploy) is never read or written.
        """
        requirements = required_providers(stack_dir)
        check_locked(requirements.items(), self.provider_lock, where=f"stack {stack_dir.name}")
        # Keyed by where providers come from and what they must match too: another mirror (TF_PROVIDER_MIRROR) or
        # another lock file gets its own installation.
        source = self.cli_config.read_text(encoding="utf-8")
        lock = self.provider_lock.read_text(encoding="utf-8")
        digest = hashlib.sha256(json.dumps([requirements, source, lock], sort_keys=True).encode()).hexdigest()[:16]
        root = self.build_dir / "terraform-providers" / digest
        with _INIT_LOCK:
            if not (root / LOCK_FILE).is_file():
                config = root / "config"
                config.mkdir(parents=True, exist_ok=True)
                body = {"terraform": {"required_providers": requirements}}
                (config / "main.tf.json").write_text(json.dumps(body), encoding="utf-8")
                place_lock_file(self.provider_lock, config)
                args = ("init", "-input=false", "-no-color", "-backend=false", "-lockfile=readonly")
                self.run(config, *args, data_dir=root / "data")
                shutil.copyfile(config / LOCK_FILE, root / LOCK_FILE)  # marks the installation complete
        place_lock_file(self.provider_lock, stack_dir)
        return root / "data"


def check_locked(requirements: Iterable[tuple[str, object]], lock: Path, *, where: str) -> None:
    """Fail unless ``lock`` locks every provider of ``requirements`` at a version its constraint allows."""
    problems = provider_lock.unlocked(requirements, lock)
    if problems:
        have = ", ".join(f"{a} {v}" for a, v in sorted(provider_lock.locked_providers(lock).items())) or "nothing"
        raise TerraformError(
            f"{where} pins providers that {lock.name} does not lock (it locks {have}):\n"
            + "\n".join(f"  - {problem}" for problem in problems)
            + f"\n{provider_lock.RELOCK_HINT}"
        )


def required_providers(stack_dir: Path) -> dict[str, object]:
    document = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    return dict(document.get("terraform", {}).get("required_providers", {}))


def stack_dirs(outdir: Path) -> list[Path]:
    stacks = outdir / "stacks"
    if not stacks.is_dir():
        raise TerraformError(f"{stacks} does not exist. Fix: run `make synth` first.")
    return sorted(p for p in stacks.iterdir() if (p / "cdk.tf.json").is_file())


def select(outdir: Path, patterns: list[str]) -> list[Path]:
    """Stack folders whose names match any of the shell patterns (e.g. ``member-*``); every pattern must match."""
    dirs = stack_dirs(outdir)
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(d.name, p) for d in dirs)]
    if unmatched:
        raise TerraformError(f"no synthesized stack matches {', '.join(unmatched)} in {outdir}/stacks")
    return [d for d in dirs if any(fnmatch.fnmatchcase(d.name, p) for p in patterns)]


def _locals(stack_dir: Path) -> dict[str, Any]:
    document = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    found: dict[str, Any] = document.get("locals", {})
    return found


def plan_all(
    outdir: Path,
    out: Path,
    patterns: list[str],
    *,
    env: TerraformEnv | None = None,
    shard: tuple[int, int] = (1, 1),
) -> dict[str, int]:
    """terraform plan (read-only: no state lock) of the selected stacks; each plan and its text go to ``out``.

    Returns {stack: exit code of plan -detailed-exitcode} (0 no changes, 2 changes) and writes plan-result.json and
    summary.md (org_backup/ops/plan_shards.py). ``shard`` (I, N) labels a Plan stage fanned out to N builds: the
    patterns are then that shard's stacks, and the merge checks the shards together.
    """
    from org_backup.plans import diff as policy_diff

    env = env or TerraformEnv.prepare()
    dirs = select(outdir, patterns)
    out.mkdir(parents=True, exist_ok=True)
    for stack_dir in dirs:
        env.init(stack_dir, backend=True)

    result = PlanResult(shard=shard)
    refused: dict[str, list[str]] = {}

    def plan(stack_dir: Path) -> int:
        plan_file = f"{(out / stack_dir.name).resolve()}.tfplan"
        run = env.run(
            stack_dir, "plan", "-input=false", "-no-color", "-lock=false", "-detailed-exitcode", f"-out={plan_file}",
            check=False,
        )  # fmt: skip
        if run.returncode not in (0, 2):
            output = run.stdout + run.stderr
            stopped = plan_guard.prevented(stack_dir.name, output) + plan_guard.orphaned(stack_dir.name, output)
            if stopped:
                refused[stack_dir.name] = stopped
                return 1
            raise TerraformError(f"terraform plan failed in {stack_dir}:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
        (out / f"{stack_dir.name}.txt").write_text(run.stdout, encoding="utf-8")
        if run.returncode == 2:  # something changes: what exactly, from the saved plan (org_backup/ops/plan_guard.py)
            shown = json.loads(env.run(stack_dir, "show", "-json", "-no-color", plan_file).stdout)
            retired = _locals(stack_dir).get(RETIRED_PLANS_LOCAL, [])
            removals, confirmed = plan_guard.plan_removals(stack_dir.name, shown, retired)
            refused[stack_dir.name] = plan_guard.refusals(stack_dir.name, shown) + removals
            if released := plan_guard.retained(shown):
                result.released[stack_dir.name] = released
            if confirmed:
                result.retired_plans[stack_dir.name] = confirmed
            result.policy_changes.update(policy_diff.effective_changes(shown))
        return run.returncode

    with ThreadPoolExecutor(max_workers=workers()) as pool:
        result.codes = dict(zip((d.name for d in dirs), pool.map(plan, dirs), strict=True))
    refusals = [line for name in sorted(refused) for line in refused[name]]
    if refusals:
        lines = ["# org-backup plan: refused", "", "Nothing may be deployed from this plan:", ""]
        (out / "summary.md").write_text("\n".join(lines + [f"- {r}" for r in refusals]) + "\n", encoding="utf-8")
        raise TerraformError(
            "the plan is refused; nothing may be deployed from it:\n" + "\n".join(f"  - {r}" for r in refusals)
        )
    result.write(out)
    (out / "summary.md").write_text(render_summary(result, out), encoding="utf-8")
    return result.codes


_LOCK_HEADER = """\
# The provider lock file of every synthesized stack: org_backup/ops/terraform.py copies this file, unchanged, into each
# stack and installs providers against it with `terraform init -lockfile=readonly`.
# Written by `make providers-lock` (python -m org_backup.ops.terraform relock) with
#   terraform providers lock {options}
# from {source}.
# zh: hashes are the SHA-256 of each platform's release zip, h1: hashes those of the unpacked packages hashed here.
# Before committing, compare the zh: values with an independent source (another project's lock file, the
# provider's signed SHA256SUMS).

"""


def relock(
    outdir: Path,
    *,
    out: Path = PROVIDER_LOCK,
    platforms: Iterable[str] = LOCK_PLATFORMS,
    fs_mirror: Path | None = None,
    env: TerraformEnv | None = None,
) -> Path:
    """Write ``out`` afresh for the providers the synthesized stacks pin: ``terraform providers lock`` from the
    registry (or a filesystem mirror, for the platforms it holds) in a scratch configuration under the build
    folder, so no hash of an older lock file is carried over."""
    env = env or TerraformEnv.prepare()
    requirements: dict[str, object] = {}
    for stack_dir in stack_dirs(outdir):
        for name, requirement in required_providers(stack_dir).items():
            if requirements.setdefault(name, requirement) != requirement:
                raise TerraformError(
                    f"stacks pin provider {name!r} differently ({requirements[name]} and, in {stack_dir.name}, "
                    f"{requirement}): one lock file cannot lock both. Fix: pin one version in the stacks."
                )
    work = env.build_dir / "providers-lock"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    body = {"terraform": {"required_providers": requirements}}
    (work / "main.tf.json").write_text(json.dumps(body, indent=1), encoding="utf-8")
    options = [f"-platform={platform}" for platform in platforms]
    env.run(work, "providers", "lock", "-no-color", *([f"-fs-mirror={fs_mirror}"] if fs_mirror else []), *options)
    generated = (work / LOCK_FILE).read_text(encoding="utf-8")
    # Terraform's own comment lines ("maintained automatically by terraform init") do not hold for this file.
    body_text = "\n".join(line for line in generated.splitlines() if not line.startswith("#")).lstrip("\n")
    source = "a filesystem mirror (-fs-mirror)" if fs_mirror else "the registry"
    out.write_text(_LOCK_HEADER.format(options=" ".join(options), source=source) + body_text + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m org_backup.ops.terraform")
    sub = parser.add_subparsers(dest="command", required=True)
    lock = sub.add_parser(
        "lock", help="install the stacks' providers against the committed lock file and copy it into each stack"
    )
    lock.add_argument("outdir")
    lock.add_argument("stacks", nargs="*", help="stack names (default: every stack)")
    relock_cmd = sub.add_parser(
        "relock",
        help=f"rewrite {PROVIDER_LOCK.name} for the providers the synthesized stacks pin (make providers-lock)",
    )
    relock_cmd.add_argument("outdir")
    relock_cmd.add_argument("--out", type=Path, default=PROVIDER_LOCK)
    relock_cmd.add_argument(
        "--platform", action="append", dest="platforms", help=f"repeatable (default: {', '.join(LOCK_PLATFORMS)})"
    )
    relock_cmd.add_argument("--fs-mirror", type=Path, help="hash the packages of this filesystem mirror instead")
    sub.add_parser("cli-config", help="write the Terraform CLI config and print its path")
    plan = sub.add_parser("plan", help="terraform plan of the stacks matching the patterns (read-only)")
    plan.add_argument("outdir")
    plan.add_argument("patterns", nargs="*")
    plan.add_argument("--stacks-file", type=Path, help="plan exactly the stacks listed in this file (may be empty)")
    plan.add_argument("--out", type=Path, default=Path("build/plans"))
    plan.add_argument(
        "--shard", default="1/1", help="I/N: plan only shard I of N of the listed stacks (a fanned-out Plan stage)"
    )
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except TerraformError as error:
        print(f"python -m org_backup.ops.terraform {args.command}: {error}", file=sys.stderr)
        return 1


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "cli-config":
        print(TerraformEnv.prepare().cli_config)
        return 0
    if args.command == "lock":
        env = TerraformEnv.prepare()
        dirs = select(Path(args.outdir), args.stacks) if args.stacks else stack_dirs(Path(args.outdir))
        for stack_dir in dirs:
            env.shared_providers(stack_dir)
        return 0
    if args.command == "relock":
        platforms = args.platforms or LOCK_PLATFORMS
        written = relock(Path(args.outdir), out=args.out, platforms=platforms, fs_mirror=args.fs_mirror)
        print(f"wrote {written}: review the diff, check the zh: hashes against an independent source, commit it")
        return 0
    if args.command == "plan":
        if bool(args.patterns) == bool(args.stacks_file):
            parser.error("plan takes stack patterns or --stacks-file, not both and not neither")
        from org_backup.config.errors import UsageError
        from org_backup.synth import incremental

        patterns = incremental.read_stack_list(args.stacks_file) if args.stacks_file else args.patterns
        index, _, count = args.shard.partition("/")
        if not (index.isdigit() and count.isdigit()) or (args.shard != "1/1" and not args.stacks_file):
            parser.error(f"--shard {args.shard!r}: give I/N (e.g. 2/8), with --stacks-file")
        shard = (int(index), int(count))
        try:  # the same round-robin as the Deploy stage's shards
            mine = incremental.shard(patterns, *shard) if args.stacks_file else patterns
        except UsageError as exc:
            parser.error(str(exc))
        plan_all(Path(args.outdir), args.out, mine, shard=shard)  # raises on a failed plan
        print((args.out / "summary.md").read_text(encoding="utf-8"))
        return 0
    raise AssertionError(f"unhandled command {args.command}")  # argparse allows only the commands above


if __name__ == "__main__":
    sys.exit(main())
