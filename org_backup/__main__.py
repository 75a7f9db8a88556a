"""Command-line tools: ``python -m org_backup <command>``. Run with ``--help`` for the list."""

from __future__ import annotations

import argparse
import json
import sys

from org_backup.config import BackupConfig


def _schema(_: argparse.Namespace) -> int:
    schema = BackupConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "org-backup configuration (backup.yaml)"
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m org_backup", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("schema", help="print the JSON Schema of backup.yaml").set_defaults(run=_schema)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
