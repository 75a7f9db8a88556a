"""MkDocs hook: the pages made from the code and the measurements, at every build, never committed or copied by
hand. The configuration reference comes from the pydantic models' JSON Schemas (the same text `python -m org_backup
schema` writes to backup.schema.json: each field's type, default, bounds and description); the benchmark page from
benchmarks/results/*.json, one file per run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]


def _type(node: dict[str, Any]) -> str:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "anyOf" in node:
        return " or ".join(_type(n) for n in node["anyOf"])
    if node.get("type") == "array":
        return f"list of {_type(node.get('items', {}))}"
    if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of {_type(node['additionalProperties'])}"
    return str(node.get("type", "any"))


def _rules(node: dict[str, Any]) -> str:
    bounds = [
        f"{label} {node[key]}"
        for key, label in (("minimum", ">="), ("maximum", "<="), ("minLength", "length >="),
                           ("maxLength", "length <="), ("minItems", "items >="), ("maxItems", "items <="))
        if key in node
    ]  # fmt: skip
    if "pattern" in node:
        bounds.append(f"matches `{node['pattern']}`")
    return ", ".join(bounds)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _object(name: str, node: dict[str, Any]) -> list[str]:
    lines = [f"## {name}", ""]
    if node.get("description"):
        lines += [_cell(node["description"]), ""]
    required = set(node.get("required", []))
    lines += ["| field | type | required / default | rules | description |", "|---|---|---|---|---|"]
    for field, spec in node.get("properties", {}).items():
        default = "required" if field in required else f"`{json.dumps(spec.get('default'))}`"
        inner = [n for n in spec.get("anyOf", []) if n.get("type") != "null"]
        rules = _rules(spec) or (", ".join(r for r in map(_rules, inner) if r))
        lines.append(
            f"| `{field}` | {_cell(_type(spec))} | {default} | {_cell(rules)} | {_cell(spec.get('description', ''))} |"
        )
    return [*lines, ""]


def schema_page(schema: dict[str, Any], title: str, source: str) -> str:
    lines = [f"# {title}", "", f"Generated at build time from {source}; every field, its type, default, bounds and", ""]
    lines[-2] += " description as the code validates them. Unknown keys are refused."
    lines += _object("Top level", schema)
    for name, node in sorted(schema.get("$defs", {}).items()):
        if node.get("type") == "object" or "properties" in node:
            lines += _object(name, node)
    return "\n".join(lines) + "\n"


def benchmarks_page(results: Path) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Every run recorded in `benchmarks/results/` (one JSON file per run of `benchmarks/suite.py` or another",
        "benchmark), newest first. Wall and CPU seconds of the same run; this machine shows heavy CPU steal, so compare",
        "runs of one file, not across files.",
        "",
    ]
    for path in sorted(results.glob("*.json"), reverse=True):
        if path.name.startswith("fleet-"):
            lines += [f"## {path.stem}", "", fleet_table(path), ""]
            continue
        loaded = json.loads(path.read_text(encoding="utf-8"))
        runs = [_flat(run) for run in (loaded if isinstance(loaded, list) else [loaded])]
        keys = list(dict.fromkeys(k for run in runs for k in run))
        lines += [f"## {path.stem}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(_cell(str(run.get(k, ""))) for k in keys) + " |" for run in runs]
        lines.append("")
    return "\n".join(lines)


def _flat(run: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """One level of a result per column: {"stamped": {"wall_s": 9.2}} -> {"stamped wall_s": 9.2}."""
    flat: dict[str, Any] = {}
    for key, value in run.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key} ")
        elif value is not None:
            flat[f"{prefix}{key}"] = value
    return flat


TIERS_MARKER = "<!-- test tiers: benchmarks/results -->"


def newest_suite(results: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """The newest suite-*.json (by name: suite-<date>[-<label>].json), keyed by make target: the last run of each."""
    newest = sorted(results.glob("suite-2*.json"))[-1]  # suite-<date>...; not the history file
    runs: dict[str, dict[str, Any]] = {}
    for run in json.loads(newest.read_text(encoding="utf-8")):
        runs[run["target"]] = run
    return newest.name, runs


def tiers_table(results: Path) -> str:
    """The test tiers' last measured wall time, CPU and memory, as benchmarks/suite.py recorded them."""
    name, runs = newest_suite(results)
    lines = [
        f"From `benchmarks/results/{name}` (how each was measured, and on what: its note on [Benchmark results]"
        "(benchmarks.md)):",
        "",
        "| target | wall | CPU (user+sys) | peak memory (PSS) | tests |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for target, run in runs.items():
        memory = f"{run['peak_pss_mib'] / 1024:.1f} GiB" if "peak_pss_mib" in run else "not measured"
        lines.append(
            f"| `make {target}` | {run['wall_s']:.0f} s | {run['cpu_s_rusage']:.0f} s | {memory} | "
            f"{run.get('summary', '')} |"
        )
    return "\n".join(lines)


FLEET_MARKER = "<!-- fleet: benchmarks/results -->"


def fleet_table(path: Path) -> str:
    """A fleet benchmark (benchmarks/fleet.py): each fleet's steps, the fitted model and its check, the projections."""
    run = json.loads(path.read_text(encoding="utf-8"))
    steps = list(run["fleets"][0]["steps"])
    lines = [
        f"`benchmarks/results/{path.name}` ({run['machine']}, commit {run['commit']}, {run['regions']} Regions, "
        f"{run['parallelism_p_measured']} stacks deployed at once; CPU steal at start {run['cpu_steal_percent_at_start']} %):",
        "",
        "| member accounts | " + " | ".join(f"{s} wall / CPU" for s in steps) + " |",
        "| ---: |" + " ---: |" * len(steps),
    ]
    for fleet in run["fleets"]:
        cells = [f"{fleet['steps'][s]['wall_s']:.0f} s / {fleet['steps'][s]['cpu_s']:.0f} s" for s in steps]
        lines.append(f"| {fleet['members']} | " + " | ".join(cells) + " |")
    model = run["model"]
    lines += [
        "",
        f"Model fitted on {model['fitted_on_members']} member accounts: plan {model['plan_a_s']} s + "
        f"{model['plan_b_s_per_stack']} s per stack; phase 2 {model['deploy_a_s']} s + {model['deploy_b_s_per_round']} s "
        f"per round. For {model['checked_on_members']}: predicted {run['predicted_largest_s']} s, measured "
        f"{run['measured_largest_s']} s: **{run['model_error_percent']} % off**.",
        "",
        "| accounts | shards N | plan | deploy | CodeBuild's own cost (assumed) | total |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for accounts, rows in run["projections"].items():
        for row in rows:
            lines.append(
                f"| {accounts} | {row['shards']} | {row['plan_min']} min | {row['deploy_min']} min | "
                f"{row['codebuild_overhead_min']} min | {row['total_min']} min |"
            )
    check = run["api_rate_check"]
    lines += [
        "",
        f"Chosen N = {run['chosen_shards']}: 1,000 accounts in **{run['projected_1000_accounts_minutes']} min**, "
        f"5,000 in {run['projected_5000_accounts_minutes']} min. API rates at N = {check['shards']} "
        f"({check['in_flight_stacks']} stacks at once) against the published quotas: highest use "
        f"{100 * check['max_utilization']:.1f} % ({'passed' if check['passed'] else 'FAILED'}); {check['not_checked']}.",
    ]
    return "\n".join(lines)


def newest_fleet(results: Path) -> Path | None:
    found = sorted(results.glob("fleet-*.json"))
    return found[-1] if found else None


def on_page_markdown(markdown: str, page: Any, config: MkDocsConfig, files: Files) -> str:
    results = ROOT / "benchmarks" / "results"
    if TIERS_MARKER in markdown:
        markdown = markdown.replace(TIERS_MARKER, tiers_table(results))
    if FLEET_MARKER in markdown:
        fleet = newest_fleet(results)
        markdown = markdown.replace(FLEET_MARKER, fleet_table(fleet) if fleet else "No fleet benchmark recorded yet.")
    return markdown


def home_page(readme: str) -> str:
    """README.md as the site's home page: its links into docs/ become links between pages."""
    return readme.replace("](docs/", "](")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    if str(ROOT) not in sys.path:  # MkDocs restores sys.path after loading a hook: the package is found here
        sys.path.insert(0, str(ROOT))
    from org_backup.config.model import BackupConfig
    from org_backup.plans.model import BackupPlans

    pages = {
        "reference/configuration.md": schema_page(
            BackupConfig.model_json_schema(), "Configuration reference (backup.yaml)", "`org_backup/config/`"
        ),
        "reference/backup-plans.md": schema_page(
            BackupPlans.model_json_schema(),
            "Backup plans reference (policies/backup_plans.yaml)",
            "`org_backup/plans/model.py`",
        ),
        "benchmarks.md": benchmarks_page(ROOT / "benchmarks" / "results"),
        "index.md": home_page((ROOT / "README.md").read_text(encoding="utf-8")),
    }
    for uri, content in pages.items():
        files.append(File.generated(config, uri, content=content))
    return files
