"""Command-line tools: python -m org_backup <command> [options]; each command's --help says what it takes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from org_backup.config.errors import InputError, UsageError
from org_backup.config.loader import load_config
from org_backup.config.model import DEFAULT_CONFIG, BackupConfig
from org_backup.config.naming import BUILD_TIMEOUT_MINUTES, DEPLOY_PHASES, deploy_phase


def _schema(args: argparse.Namespace) -> int:
    from org_backup.plans.model import BackupPlans

    if args.plans:
        schema = BackupPlans.model_json_schema()
        schema["title"] = "org-backup backup plans (policies/backup_plans.yaml, backup_plans_file)"
    else:
        schema = BackupConfig.model_json_schema()
        schema["title"] = "org-backup configuration (backup.yaml)"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0


def _preview(args: argparse.Namespace) -> int:
    from org_backup.plans.effective import preview, render_text
    from org_backup.synth.inputs import Inputs

    inputs = Inputs.load(args.config)
    previews = preview(inputs.config, inputs.backup_policies)
    if args.account:
        unknown = sorted(set(args.account) - {p.account_id for p in previews})
        if unknown:
            members = sorted(p.account_id for p in previews)
            listed = ", ".join(members[:10]) + (f" and {len(members) - 10} more" if len(members) > 10 else "")
            print(
                f"preview: {', '.join(unknown)} not a member account of {args.config}. Fix: name one of its member "
                f"accounts: {listed}.",
                file=sys.stderr,
            )
            return 2
        previews = [p for p in previews if p.account_id in args.account]
    if args.json or args.format == "json":
        print(json.dumps({p.account_id: p.effective for p in previews}, indent=2, sort_keys=True))
    elif args.format == "mermaid":
        from org_backup.ops.topology import mermaid

        print(mermaid(inputs, previews), end="")
    else:
        print(render_text(previews))
    return 0


def _policy_check(args: argparse.Namespace) -> int:
    from org_backup.ops.policy_cli import check

    return check(args.files, sys.stdout, sys.stderr)


def _policy_effective(args: argparse.Namespace) -> int:
    from org_backup.ops.policy_cli import effective

    return effective(args.level, sys.stdout, sys.stderr, text=args.format == "text")


def _monitoring(args: argparse.Namespace) -> int:
    from org_backup.ops.monitoring import overview, render_text
    from org_backup.synth.inputs import Inputs

    inputs = Inputs.load(args.config)
    view = overview(inputs.config, inputs.plans)
    print(json.dumps(view, indent=2, sort_keys=True) if args.json else render_text(view))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from org_backup.ops import doctor
    from org_backup.synth.inputs import Inputs

    inputs = Inputs.load(args.config)
    policies = {p.name: "BACKUP_POLICY" for p in inputs.backup_policies}
    policies.update({s.name: "SERVICE_CONTROL_POLICY" for s in inputs.scps})
    return doctor.main(inputs.config, policies)


def _readiness(args: argparse.Namespace) -> int:
    from org_backup.ops import credentials, readiness
    from org_backup.synth.inputs import Inputs

    inputs = Inputs.load(args.config)
    if not credentials.require("readiness", inputs.config.pipeline_region):
        return 2
    return readiness.main(
        inputs.config,
        inputs.backup_policies,
        as_json=args.json,
        accounts=args.account,
        regions=args.region,
        role_name=args.role_name,
        no_assume_role=args.no_assume_role,
    )


def _bootstrap(args: argparse.Namespace) -> int:
    from org_backup.ops import bootstrap

    flags = {"home": args.profile_home, "management": args.profile_management, "central": args.profile_central}
    return bootstrap.main(
        load_config(args.config), args.outdir, flags, auto_approve=args.auto_approve, again=args.again
    )


def _wait_roles(args: argparse.Namespace) -> int:
    from org_backup.ops import credentials, deploy_wait
    from org_backup.synth.incremental import read_stack_list

    stacks = read_stack_list(args.stacks_file)
    config = load_config(args.config)
    if not credentials.require("wait-roles", config.pipeline_region):
        return 2
    return deploy_wait.main(config, stacks, role=args.role, timeout=args.timeout)


def _locks(args: argparse.Namespace) -> int:
    """`make deploy`, before each phase: a live lock stops the deploy cleanly; a stale one (its build timed out) is
    removed with --clear-stale, else reported with its unlock step (org_backup/ops/state_locks.py)."""
    from datetime import timedelta

    from org_backup.ops import state_locks
    from org_backup.synth.incremental import read_stack_list

    return state_locks.main(
        load_config(args.config, with_accounts_file=False).state_backend,
        read_stack_list(args.stacks_file),
        max_age=timedelta(minutes=args.max_age_minutes),
        clear=args.clear_stale,
    )


def _credentials(args: argparse.Namespace) -> int:
    """`make plan` asks first: without credentials nothing is synthesized or written."""
    from org_backup.ops import credentials

    config = load_config(args.config)
    return 0 if credentials.require(args.before, config.pipeline_region) else 2


def _discover(args: argparse.Namespace) -> int:
    from org_backup.ops import discover

    return discover.main(
        args.config,
        check=args.check,
        assume_plan_role=args.assume_plan_role,
        if_configured=args.if_configured,
        also_write=args.also_write,
        from_file=args.from_file,
    )


def _records(args: argparse.Namespace) -> Any:
    """Where deployed-stack hashes live: --records DIR, else the S3 state bucket, else build/deployed (offline)."""
    from org_backup.ops.records import deploy_records
    from org_backup.synth.incremental import LocalRecords

    if args.records:
        return LocalRecords(args.records)
    return deploy_records(load_config(args.config, with_accounts_file=False).state_backend)


def _changed(args: argparse.Namespace) -> int:
    from org_backup.synth import incremental

    current = incremental.stack_hashes(args.outdir)
    records = _records(args)
    try:
        recorded = records.read()
    except (BotoCoreError, ClientError) as exc:
        print(f"changed: cannot read the deploy records at {records.describe()}: {exc}", file=sys.stderr)
        return 3
    result = incremental.compare(current, recorded)
    for stack in result.changed:
        print(stack)
    print(
        f"{len(result.changed)} of {len(current)} deployable stacks changed since the last recorded deploy "
        f"({records.describe()}).",
        file=sys.stderr,
    )
    for stack in result.gone:
        print(f"Note: {stack} was deployed but is no longer synthesized (retire-accounts decides).", file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(f"{s}\n" for s in result.changed), encoding="utf-8")
        hashes = {s: current[s] for s in result.changed}
        args.out.with_suffix(".json").write_text(json.dumps(hashes, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


def _retire(args: argparse.Namespace) -> int:
    from org_backup.ops import retire_accounts

    config = load_config(args.config)
    return retire_accounts.main(config, _records(args), outdir=args.outdir, plan=args.plan, deploy=args.deploy)


def _record(args: argparse.Namespace) -> int:
    from org_backup.synth import incremental

    stacks = incremental.read_stack_list(args.stacks_file)
    current = incremental.stack_hashes(args.outdir)
    missing = [s for s in stacks if s not in current]
    if missing:
        print(f"record: {', '.join(missing)} not synthesized in {args.outdir}; nothing recorded.", file=sys.stderr)
        return 1
    records = _records(args)
    try:
        records.write({s: current[s] for s in stacks})
    except (BotoCoreError, ClientError) as exc:
        print(f"record: cannot write the deploy records at {records.describe()}: {exc}", file=sys.stderr)
        return 3
    print(f"Recorded {len(stacks)} deployed stacks in {records.describe()}.")
    return 0


def _shard(args: argparse.Namespace) -> int:
    from org_backup.synth import incremental

    index, _, count = args.shard.partition("/")
    if not (index.isdigit() and count.isdigit()):
        print(f"shard: {args.shard!r} is not I/N (e.g. 2/8).", file=sys.stderr)
        return 2
    if not args.planned.is_file():  # make plan writes it only when every plan passed (org_backup/ops/plan_guard.py)
        print(
            f"shard: no approved plan at {args.planned}; nothing deployed. Fix: run `make plan` and let it pass "
            "(a refused plan leaves no stack list behind).",
            file=sys.stderr,
        )
        return 2
    planned = json.loads(args.planned.read_text(encoding="utf-8"))
    if args.phase is not None:
        planned = {stack: digest for stack, digest in planned.items() if deploy_phase(stack) == args.phase}
    try:
        mine = incremental.shard(planned, int(index), int(count))
    except UsageError as exc:
        print(f"shard: {exc}", file=sys.stderr)
        return 2
    current = incremental.stack_hashes(args.outdir)
    differs = [s for s in mine if current.get(s) != planned[s]]
    if differs:
        print(
            f"shard: {', '.join(differs)} differ from what the Plan stage planned and was approved; nothing deployed. "
            "Fix: run the pipeline again from the start.",
            file=sys.stderr,
        )
        return 1
    print("".join(f"{s}\n" for s in mine), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m org_backup",
        description="org-backup's command-line tools. --config (default: $BACKUP_CONFIG or backup.yaml) may come "
        "before or after the command.",
        epilog="examples:\n"
        "  python -m org_backup preview --account 444444444444\n"
        "  python -m org_backup preview --format mermaid > topology.md\n"
        "  python -m org_backup doctor --config prod/backup.yaml\n"
        "  python -m org_backup readiness --json > readiness.json\n"
        "  python -m org_backup policy check my-policies/*.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("BACKUP_CONFIG", DEFAULT_CONFIG)),
        help="config file (default: $BACKUP_CONFIG or backup.yaml)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    # --config also after the command (`preview --config x`); given there, it wins over the one before it.
    anywhere = argparse.ArgumentParser(add_help=False)
    anywhere.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="config file (as before the command)")

    def command(name: str, *, parents: tuple[argparse.ArgumentParser, ...] = (), **kwargs: Any) -> Any:
        return sub.add_parser(name, parents=[*parents, anywhere], **kwargs)

    schema = command("schema", help="print the JSON Schema of backup.yaml (or, with --plans, of the plans file)")
    schema.add_argument("--plans", action="store_true", help="the plans file's schema instead")
    schema.set_defaults(run=_schema)
    preview = command("preview", help="effective backup policy of every OU and member account, before deploy")
    preview.add_argument("--json", action="store_true", help="machine-readable output (= --format json)")
    preview.add_argument(
        "--format", choices=("text", "json", "mermaid"), default="text", help="mermaid: a diagram of the topology"
    )
    preview.add_argument("--account", action="append", help="only this member account (repeatable)")
    preview.set_defaults(run=_preview)
    policy = command("policy", help="BACKUP_POLICY documents in AWS's syntax, any of them (not only org-backup's)")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_commands.add_parser(
        "check",
        help="exit 0 when every file is a valid BACKUP_POLICY; 2 otherwise, one line per problem (file, path, fix)",
        description="Check BACKUP_POLICY documents against AWS's backup policy syntax and inheritance operators: "
        "prints 'FILE: ok' for each valid one, 'FILE: <JSON path>: <problem and fix>' for every problem.",
        epilog="example:\n  python -m org_backup policy check policies/*.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help="a backup policy document (JSON)")
    check.set_defaults(run=_policy_check)
    merged = policy_commands.add_parser(
        "effective",
        help="merge documents attached from the root down to an account; print the effective policy as JSON",
        description="Merge BACKUP_POLICY documents as AWS Organizations' inheritance operators do, one --level per "
        "level from the organization root down to the account (files of one level in attachment order). Prints "
        "the effective policy as JSON on stdout; every child operation a parent's controls forbid, and every note "
        "(e.g. two policies of one level assigning one setting), on stderr. Exit 2 if a document is invalid.",
        epilog="example (root, an OU, the account):\n"
        "  python -m org_backup policy effective --level root.json --level ou.json --level account.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merged.add_argument(
        "--level", action="append", required=True, metavar="FILE[,FILE...]", help="one level's documents, root first"
    )
    merged.add_argument("--format", choices=("json", "text"), default="json", help="text: as preview prints it")
    merged.set_defaults(run=_policy_effective)
    watch = command(
        "monitoring",
        help="offline: job-failure alerts, audit frameworks (with the controls' parameters), reports, restore tests",
    )
    watch.add_argument("--json", action="store_true", help="machine-readable output")
    watch.set_defaults(run=_monitoring)
    command(
        "doctor", help="read-only preflight checks of the organization (management-account credentials)"
    ).set_defaults(run=_doctor)
    ready = command(
        "readiness",
        help="read-only: tagged resources that will not be backed up or copied as their plans say (exit 1 if any)",
    )
    ready.add_argument("--json", action="store_true", help="machine-readable output")
    ready.add_argument("--account", action="append", help="only this member account (repeatable)")
    ready.add_argument("--region", action="append", help="only this target Region (repeatable)")
    ready.add_argument(
        "--role-name", help="role to assume in each account (default: the plan role, which trusts the plan builder)"
    )
    ready.add_argument(
        "--no-assume-role", action="store_true", help="read with the current credentials (one --account, theirs)"
    )
    ready.set_defaults(run=_readiness)
    boot = command(
        "bootstrap",
        help="first-time setup in order: prerequisites, state bucket, deploy/plan roles, pipeline (see docs/deploy.md)",
    )
    for kind in ("home", "management", "central"):
        boot.add_argument(
            f"--profile-{kind}", help=f"AWS profile of the {kind} account (or ORG_BACKUP_{kind.upper()}_PROFILE)"
        )
    boot.add_argument("--auto-approve", action="store_true", help="apply without asking (automation only)")
    boot.add_argument("--again", action="store_true", help="apply every step, also those recorded as done")
    boot.add_argument("--outdir", type=Path, default=Path("cdktf.out"), help="synthesized output (cdktf.out)")
    boot.set_defaults(run=_bootstrap)
    discover = command(
        "discover",
        help="read the target OUs' accounts from AWS Organizations into accounts_file (read-only calls)",
    )
    discover.add_argument("--check", action="store_true", help="only compare: exit 1 if accounts_file is stale")
    discover.add_argument(
        "--assume-plan-role",
        action="store_true",
        help="assume the management account's read-only plan role first (the pipeline does)",
    )
    discover.add_argument("--if-configured", action="store_true", help="do nothing when accounts_file is not set")
    discover.add_argument("--also-write", type=Path, help="write the snapshot here too (the Plan stage's artifact)")
    discover.add_argument(
        "--from-file", type=Path, help="install this earlier snapshot instead of asking AWS (the Deploy stage)"
    )
    discover.set_defaults(run=_discover)
    outdir = argparse.ArgumentParser(add_help=False)
    outdir.add_argument("--outdir", type=Path, default=Path("cdktf.out"), help="synthesized output (cdktf.out)")
    outdir.add_argument(
        "--records", type=Path, help="local directory of deployed-stack hashes (default: see docs/scale.md)"
    )
    changed = command(
        "changed", parents=(outdir,), help="print the deployable stacks whose content changed since the last deploy"
    )
    changed.add_argument("--out", type=Path, help="also write the list here, and their hashes beside it (.json)")
    changed.set_defaults(run=_changed)
    locks = command("locks", help="state locks of the listed stacks: a live one fails, a stale one is reported")
    locks.add_argument("--stacks-file", type=Path, required=True, help="one stack name per line")
    locks.add_argument(
        "--max-age-minutes",
        type=int,
        default=BUILD_TIMEOUT_MINUTES,
        help="a lock older than this was left by a build that is gone (default: the pipeline's build timeout)",
    )
    locks.add_argument("--clear-stale", action="store_true", help="remove stale locks instead of failing on them")
    locks.set_defaults(run=_locks)
    retire = command("retire-accounts", parents=(outdir,), help="release the state of retired_accounts' stacks")
    stage = retire.add_mutually_exclusive_group(required=True)
    stage.add_argument("--plan", type=Path, help="Plan stage: refuse unconfirmed ones; list the others in this dir")
    stage.add_argument("--deploy", type=Path, help="Deploy: retire exactly those the approved plan's list names")
    retire.set_defaults(run=_retire)
    record = command("record", parents=(outdir,), help="record the listed stacks as deployed (after success)")
    record.add_argument("--stacks-file", type=Path, required=True, help="one stack name per line")
    record.set_defaults(run=_record)
    shard = command(
        "shard", parents=(outdir,), help="print shard I/N of the planned stacks, after checking they are unchanged"
    )
    shard.add_argument("shard", help="I/N, 1-based")
    shard.add_argument("--planned", type=Path, required=True, help="the hashes `changed --out` wrote (.json)")
    shard.add_argument(
        "--phase", type=int, choices=DEPLOY_PHASES, help="only the planned stacks of this deploy phase (naming.py)"
    )
    shard.set_defaults(run=_shard)
    wait = command("wait-roles", help="wait until the plan or deploy role of every listed stack's account is assumable")
    wait.add_argument("--role", choices=("plan", "deploy"), required=True)
    wait.add_argument("--stacks-file", type=Path, required=True, help="one stack name per line")
    wait.add_argument("--timeout", type=float, default=900.0, help="seconds to wait at most (default 900)")
    wait.set_defaults(run=_wait_roles)
    check = command("credentials", help="exit 2 with the fix, in one line, when there are no usable AWS credentials")
    check.add_argument("--before", default="credentials", help="the command the message names (make plan: plan)")
    check.set_defaults(run=_credentials)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    except UsageError as exc:  # a missing cdktf.out or stack list, a bad stack list; anything else is a bug
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
