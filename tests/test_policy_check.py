"""`python -m org_backup policy check FILE...` (issue 27, item 3): any BACKUP_POLICY documents, not only org-backup's.
AWS's documented examples pass (exit 0, one `ok` line each); a broken document, a file that is not JSON, one with a
duplicate key ("Duplicate key names will be rejected in JSON", AWS Organizations User Guide, "Backup policy syntax and
examples") and a missing file each give lines naming the file, the JSON path and the fix, exit 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from org_backup.__main__ import main
from tests.conftest import FIXTURES, ROOT

EXAMPLES = sorted(
    (FIXTURES / "aws_backup_policy_examples").glob("example[12678]_*.json")
)  # valid (6, 7: fragments completed)


def test_aws_documented_examples_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", *map(str, EXAMPLES)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{path}: ok" for path in EXAMPLES]
    assert err == ""


def test_every_broken_file_is_named_with_its_path_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(EXAMPLES[0].read_text())
    plan = next(iter(document["plans"].values()))
    plan["rules"] = [{"rule_name": "Daily"}]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    not_json = tmp_path / "not-json.json"
    not_json.write_text('{"plans": {"A": ')
    duplicate = tmp_path / "duplicate.json"
    duplicate.write_text('{"plans": {"A": {}}, "plans": {"B": {}}}')
    missing = tmp_path / "missing.json"

    assert main(["policy", "check", str(EXAMPLES[0]), str(broken), str(not_json), str(duplicate), str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{EXAMPLES[0]}: ok"]
    lines = err.splitlines()
    plan_name = next(iter(document["plans"]))
    assert f"{broken}: plans.{plan_name}.rules: must be an object keyed by rule name, not a list." in " ".join(lines)
    assert (
        f"{not_json}: is not JSON: Expecting value (line 1, column 17). Fix: pass a BACKUP_POLICY document as JSON, "
        "e.g. the Content of `aws organizations describe-policy --policy-id <id>`; a plans file (YAML) is checked by "
        "`make synth`." in lines
    )
    assert f"{duplicate}: the key 'plans' occurs twice in one object; AWS rejects duplicate keys." in lines
    assert any(line.startswith(f"{missing}: cannot be read: ") for line in lines)


def test_the_entry_point_never_shows_a_traceback(tmp_path: Path) -> None:
    """As a user runs it: garbage of several kinds, exit 2, only problem lines on stderr."""
    files = []
    for index, text in enumerate(['"plans"', "[1, 2]", '{"plans": {"P": {"regions": {"@@assign": 7}}}}', "\x00\x01"]):
        path = tmp_path / f"garbage-{index}.json"
        path.write_text(text)
        files.append(str(path))
    completed = subprocess.run(
        [sys.executable, "-m", "org_backup", "policy", "check", *files],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert all(line.startswith(tuple(files)) for line in completed.stderr.splitlines()), completed.stderr


def test_aws_examples_that_break_awss_own_cold_storage_rule_are_refused_for_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """AWS's examples 3 and 5 keep a backup for less than 90 days in cold storage, which the same page forbids
    ("delete_after_days must be 90 days greater than move_to_cold_storage_after_days"): said, not accepted."""
    folder = FIXTURES / "aws_backup_policy_examples"
    files = [folder / "example3_parent.json", folder / "example5_parent.json", folder / "example5_child.json"]
    assert main(["policy", "check", *map(str, files)]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{files[2]}: ok"]
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{files[0]}: plans.PII_Backup_Plan.rules.Hourly.copy_actions.")
    assert lines[1] == (
        f"{files[1]}: plans.PII_Backup_Plan.rules.Hourly.lifecycle.delete_after_days: 2 must be at least "
        "move_to_cold_storage_after_days (180) + 90 (AWS Backup keeps cold storage at least 90 days). Fix: raise it "
        "to 270 or move to cold storage earlier."
    )


def test_real_world_policies_written_by_others_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """tests/fixtures/real_world_backup_policies/README.md records each one's origin; each is a policy AWS accepts
    (deployed as the reference solution's CloudFormation template)."""
    files = sorted((FIXTURES / "real_world_backup_policies").glob("*.json"))
    assert len(files) == 6
    assert main(["policy", "check", *map(str, files)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{path}: ok" for path in files]


def test_a_real_world_policy_aws_cannot_create_is_refused_for_that_reason_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A blog post's example (origin in tests/fixtures/real_world_backup_policies/README.md): cold storage after 7
    days, deletion after 35; AWS Backup needs deletion at least 90 days after the move (7 + 90 = 97, by hand)."""
    path = FIXTURES / "real_world_backup_policies" / "refused" / "oneuptime-blog-daily.json"
    assert main(["policy", "check", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: plans.OrgDailyBackupPlan.rules.DailyBackupRule.lifecycle.delete_after_days: 35 must be at least "
        "move_to_cold_storage_after_days (7) + 90 (AWS Backup keeps cold storage at least 90 days). Fix: raise it to 97 "
        "or move to cold storage earlier."
    ]
