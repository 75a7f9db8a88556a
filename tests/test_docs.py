"""The documentation site's generated pages (docs/hooks/generated.py) and the rule that numbers about the test tiers
come from benchmarks/results/, never from hand-written text. `make docs` (run by .ci/run) builds the site with
--strict, so a broken link or a page missing from the navigation fails CI."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from org_backup.config.model import BackupConfig
from tests.conftest import ROOT


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hook", ROOT / "docs" / "hooks" / "generated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tier_table_is_the_newest_results_file_s_last_run_of_each_target(tmp_path: Path) -> None:
    older = [{"target": "test", "wall_s": 999.0, "cpu_s_rusage": 999.0, "peak_pss_mib": 1024, "summary": "old"}]
    newer = [
        {"target": "test", "wall_s": 500.0, "cpu_s_rusage": 600.0, "peak_pss_mib": 2048, "summary": "first"},
        {"target": "test-fast", "wall_s": 61.4, "cpu_s_rusage": 70.2, "peak_pss_mib": 512, "summary": "fast"},
        {"target": "test", "wall_s": 410.2, "cpu_s_rusage": 480.9, "peak_pss_mib": 3072, "summary": "last"},
    ]
    (tmp_path / "suite-2026-12-01.json").write_text(json.dumps(older))
    (tmp_path / "suite-2026-12-04-stop38.json").write_text(json.dumps(newer))

    table = _hook().tiers_table(tmp_path)

    assert "`benchmarks/results/suite-2026-12-04-stop38.json`" in table
    rows = [line for line in table.splitlines() if line.startswith("| `make")]
    assert rows == [
        "| `make test` | 410 s | 481 s | 3.0 GiB | last |",
        "| `make test-fast` | 61 s | 70 s | 0.5 GiB | fast |",
    ]


def test_no_page_states_a_test_tier_s_duration_by_hand() -> None:
    """The testing page takes its tier table from the results (the marker the hook replaces); no page or the README
    writes "make test ... N s" or "N minutes" for a tier itself (issue 30: stale figures in the old README)."""
    hook = _hook()
    assert hook.TIERS_MARKER in (ROOT / "docs" / "testing.md").read_text()
    stated = re.compile(
        r"`make test(?:-fast|-migration)?`(?![^|\n]{0,20}within)[^|\n]{0,80}?\b\d+(?:\.\d+)? ?(?:s|seconds|min|minutes)\b"
    )
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = [f"{p.name}: {m.group(0)}" for p in pages for m in stated.finditer(p.read_text())]
    assert found == []


def test_the_configuration_reference_lists_every_field_of_every_section() -> None:
    """Generated from the models' JSON Schema: each top-level field of backup.yaml has its row, and a nested model
    (central_backup's) has its own table with its fields, descriptions included."""
    schema = BackupConfig.model_json_schema()
    page = _hook().schema_page(schema, "Configuration reference", "the models")
    top = page.split("\n## ", 2)[1]
    for field in BackupConfig.model_fields:
        assert f"| `{field}` |" in top, field
    central = schema["$defs"]["CentralBackup"]
    section = page.split("\n## CentralBackup\n", 1)[1].split("\n## ", 1)[0]
    for field, spec in central["properties"].items():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{field}` |"))
        assert " ".join(spec.get("description", "").split()).replace("|", "\\|") in row, field


@pytest.mark.slow
def test_make_docs_builds_the_site_strictly_and_refuses_a_broken_link(tmp_path: Path) -> None:
    """What `make docs` runs (mkdocs build --strict): the site builds with its generated pages; a copy of the docs
    with one broken link does not (MkDocs 1.6, validation.links.not_found set to warn, which --strict makes fatal)."""
    import shutil
    import subprocess
    import sys

    def build(root: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
            cwd=root, capture_output=True, text=True, check=False, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        )  # fmt: skip

    built = build(ROOT)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "reference" / "configuration" / "index.html").is_file()
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", copy / "docs")
    for name in ("README.md", "org_backup", "benchmarks", "policies"):  # what the hook reads, beside its docs/
        (copy / name).symlink_to(ROOT / name)
    (copy / "docs" / "scale.md").write_text((copy / "docs" / "scale.md").read_text() + "\n[gone](no-such-page.md)\n")
    broken = build(copy)
    assert broken.returncode == 1 and "no-such-page.md" in broken.stderr, broken.stderr


def test_every_repository_path_the_pages_name_exists() -> None:
    """A page that names `org_backup/...`, `stacks/...` or any other folder of the repository, or a module by its
    file name, names something that is there (files move; the pages must follow). Generated places (build/,
    cdktf.out/) and patterns (`<...>`, `*`) are not repository paths."""
    tracked = set(
        subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    )
    folders = {"/".join(f.split("/")[:i]) for f in tracked for i in range(1, f.count("/") + 1)}
    names = {f.rsplit("/", 1)[-1] for f in tracked}
    top = (
        "org_backup/",
        "stacks/",
        "tests/",
        "lambda_src/",
        "policies/",
        "buildspecs/",
        "benchmarks/",
        "docs/",
        ".ci/",
    )
    missing = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for token in re.findall(r"`([A-Za-z0-9_./<>*-]+)`", page.read_text(encoding="utf-8")):
            if any(c in token for c in "<>*") or token.endswith("..."):
                continue
            path = token.rstrip("/")
            if token.startswith(top):
                found = path in tracked or path in folders
            elif token.endswith(".py"):
                found = token in tracked if "/" in token else token in names
            else:
                continue
            if not found:
                missing.append(f"{page.relative_to(ROOT)}: {token}")
    assert missing == []


def test_the_counts_the_pages_state_are_what_the_code_holds() -> None:
    """Counts typed into the pages, each against what it counts (issue 30 found three stale: the broken plans, the
    checkov skips, the malformed configs; the last is checked in tests/test_config.py)."""
    from tests import test_backup_policy

    documents = test_backup_policy.test_broken_documents_fail_with_exact_message.pytestmark[0].args[1]
    skips = yaml.safe_load((ROOT / ".checkov.yaml").read_text(encoding="utf-8"))["skip-check"]
    testing = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    concepts = (ROOT / "docs" / "concepts.md").read_text(encoding="utf-8")
    stated = {
        "broken plans (entry point)": re.findall(r"the (\d+) broken plans also", testing),
        "broken plans": re.findall(r"(\d+) broken plans \+ \d+ broken documents", testing),
        "broken documents": re.findall(r"\d+ broken plans \+ (\d+) broken documents", testing),
        "checkov skips": re.findall(r"(\d+) skips in `\.checkov\.yaml`", concepts),
    }
    counted = {
        "broken plans (entry point)": len(test_backup_policy.BROKEN),
        "broken plans": len(test_backup_policy.BROKEN),
        "broken documents": len(documents),
        "checkov skips": len(skips),
    }
    assert {what: [int(n) for n in found] for what, found in stated.items()} == {
        what: [n] for what, n in counted.items()
    }


QUANTITY = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?) ?(s|ms|MB|GB|GiB|MiB|KB|min|minutes|seconds)\b")


def test_every_quantity_the_pages_state_is_in_a_file_or_the_code() -> None:
    """Issue 30: a time or size typed into a page (``12 s``, ``1224 MiB``) appears as that number in the code, the
    config, the policies, the buildspecs, the Makefile or a file of benchmarks/results/ (where measurements are
    recorded), so a measurement nobody recorded cannot be quoted. It checks the number, not its meaning: a page
    quoting a number that happens to appear elsewhere passes."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    sources = ("org_backup/", "stacks/", "lambda_src/", "policies/", "buildspecs/", "benchmarks/", ".ci/")
    top = ("Makefile", "main.py", "backup.yaml", "backup.minimal.yaml", "pyproject.toml", "cdktf.json", "Pipfile")
    text = "\n".join(
        (ROOT / f).read_text(encoding="utf-8", errors="replace")
        for f in listed
        if (f.startswith(sources) or f in top) and (ROOT / f).is_file()
    )
    unsourced = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for number, line in _quantities(page):
            if not any(re.search(rf"(?<![\d.]){re.escape(v)}(?!\d)", text) for v in {number, number.replace(",", "")}):
                unsourced.append(f"{page.relative_to(ROOT)}:{line}: {number}")
    assert unsourced == []


def _quantities(page: Path) -> list[tuple[str, int]]:
    found = []
    for index, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        found += [(m.group(1).rstrip("."), index) for m in QUANTITY.finditer(line)]
    return found
