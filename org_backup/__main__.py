"""Command-line tools: ``python -m org_backup <command>``. Run with ``--help`` for the list."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from org_backup.config import DEFAULT_CONFIG, BackupConfig
from org_backup.errors import InputError


def _schema(_: argparse.Namespace) -> int:
    schema = BackupConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "org-backup configuration (backup.yaml)"
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0


def _preview(args: argparse.Namespace) -> int:
    from org_backup.effective import preview, render_text
    from org_backup.inputs import Inputs

    inputs = Inputs.load(args.config)
    previews = preview(inputs.config, inputs.backup_policies)
    if args.json:
        print(json.dumps({p.account_id: p.effective for p in previews}, indent=2, sort_keys=True))
    else:
        print(render_text(previews))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from org_backup import doctor

    return doctor.main(BackupConfig.load(args.config))


def _discover(args: argparse.Namespace) -> int:
    from org_backup import discover

    return discover.main(args.config, check=args.check, assume_plan_role=args.assume_plan_role)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m org_backup", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("BACKUP_CONFIG", DEFAULT_CONFIG)),
        help="config file (default: $BACKUP_CONFIG or backup.yaml)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("schema", help="print the JSON Schema of backup.yaml").set_defaults(run=_schema)
    preview = sub.add_parser("preview", help="effective backup policy of every OU and member account, before deploy")
    preview.add_argument("--json", action="store_true", help="machine-readable output")
    preview.set_defaults(run=_preview)
    sub.add_parser(
        "doctor", help="read-only preflight checks of the organization (management-account credentials)"
    ).set_defaults(run=_doctor)
    discover = sub.add_parser(
        "discover",
        help="read the target OUs' accounts from AWS Organizations into accounts_file (read-only calls)",
    )
    discover.add_argument("--check", action="store_true", help="only compare: exit 1 if accounts_file is stale")
    discover.add_argument(
        "--assume-plan-role",
        action="store_true",
        help="assume the management account's read-only plan role first (the pipeline does)",
    )
    discover.set_defaults(run=_discover)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as exc:
        print(exc.render(), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
