"""Member stacks by shape: CDKTF builds two accounts of each shape, every other account's stack is written from
them, so synth time grows with the number of shapes, not of accounts.

Each jsii call is a round trip into node (~77 constructs per member stack), which made 1,000 accounts x 4 Regions
take minutes; yet member stacks are one shape repeated. Two accounts have the same **shape** when they are in the
same OU (plans, frameworks, indexing policy) and the config names each of them in the same places
(``relations``: central account, home account, monitoring account, share lists, ... found by walking the config,
so a new field that names accounts makes new shapes by itself).

Writing an account's stack from its shape substitutes the account id in the places CDKTF put the representative's
id, and nowhere else: ``Template`` finds them in the representative's cdk.tf.json (and its manifest entry) as whole
12-digit tokens inside JSON string literals, and refuses the representative if its id occurs anywhere else (a
number, part of a longer digit run), so no digits are replaced blindly. Two guards keep a wrong stack from being
written silently, each a SynthError naming both accounts:
- the second representative, also built by CDKTF, must equal the first one's template filled with its id, byte for
  byte (a per-account difference that is not an account id, or not declared by the shape key, fails here);
- both must have the same other files (the tag re-application function's zip), which are then hard-linked.
``ORG_BACKUP_MEMBER_STAMPING=off`` (main.py) builds every stack through CDKTF; tests/test_member_stamp.py compares
both ways file by file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from org_backup.config.model import BackupConfig
from org_backup.config.naming import member_stack

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')  # a JSON string literal; outside them JSON text has no quotes
STACK_FILE = "cdk.tf.json"


class StampError(Exception):
    """A member stack cannot be written from its shape: the message says which accounts and why."""


def _without_member_lists(config: BackupConfig) -> dict[str, Any]:
    """The config as data, without the OU account lists (they name every member), with the account ids that are
    defaults derived from other fields."""
    dumped = config.model_dump(mode="json")
    dumped["target_ous"] = [{k: v for k, v in ou.items() if k != "accounts"} for ou in dumped["target_ous"]]
    dumped["monitoring_account_id"] = config.monitoring_account_id
    return dumped


def relations(config: BackupConfig, account_id: str, *, dumped: dict[str, Any] | None = None) -> tuple[str, ...]:
    """Where the config names ``account_id``, besides the OU account lists: dotted paths, sorted. ``dumped``:
    ``_without_member_lists(config)`` computed once for many accounts (it is the size of the config)."""
    return tuple(sorted(_paths_naming(dumped or _without_member_lists(config), account_id, "")))


def _paths_naming(node: Any, account_id: str, path: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths_naming(value, account_id, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths_naming(value, account_id, f"{path}[{index}]")
    elif isinstance(node, str) and account_id in node:
        yield path


@dataclass
class Shape:
    ou_id: str
    accounts: list[str] = field(default_factory=list)

    @property
    def built(self) -> list[str]:
        """The accounts CDKTF builds: two, so that the second checks the template of the first."""
        return self.accounts[:2]

    @property
    def stamped(self) -> list[str]:
        return self.accounts[2:]


def shapes(config: BackupConfig) -> list[Shape]:
    by_key: dict[tuple[str, tuple[str, ...]], Shape] = {}
    dumped = _without_member_lists(config)
    for ou in config.target_ous:
        for account_id in ou.accounts:
            key = (ou.id, relations(config, account_id, dumped=dumped))
            by_key.setdefault(key, Shape(ou.id)).accounts.append(account_id)
    return list(by_key.values())


@dataclass(frozen=True)
class Template:
    """A text with one account id taken out: ``fill(other)`` is the same text naming ``other`` instead."""

    chunks: tuple[str, ...]

    @classmethod
    def of(cls, text: str, account_id: str, *, what: str) -> Template:
        token = re.compile(rf"(?<!\d){account_id}(?!\d)")
        chunks, last = [], 0
        for literal in _STRING.finditer(text):
            for found in token.finditer(literal.group()):
                start = literal.start() + found.start()
                chunks.append(text[last:start])
                last = start + len(account_id)
        chunks.append(text[last:])
        if text.count(account_id) != len(chunks) - 1:
            raise StampError(
                f"{what}: account id {account_id} also occurs outside a JSON string or inside a longer number, so "
                "its stack cannot be written from a template. Fix: set ORG_BACKUP_MEMBER_STAMPING=off and report "
                "this (org_backup/synth/member_stamp.py)."
            )
        return cls(tuple(chunks))

    def fill(self, account_id: str) -> str:
        return account_id.join(self.chunks)


def _first_difference(expected: str, found: str) -> str:
    for number, (a, b) in enumerate(zip(expected.splitlines(), found.splitlines(), strict=False), start=1):
        if a != b:
            return f"line {number}: expected {a.strip()[:160]!r}, CDKTF wrote {b.strip()[:160]!r}"
    return "their lengths differ"


def _other_files(stack_dir: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(stack_dir)): path.read_bytes()
        for path in sorted(stack_dir.rglob("*"))
        if path.is_file() and path.name != STACK_FILE
    }


def stamp(staging: Path, config: BackupConfig) -> list[str]:
    """Write the stack of every account CDKTF did not build (``Shape.stamped``) into ``staging``, and their entries
    into its manifest.json; returns their stack names. Stacks are written one at a time (memory stays flat).
    With nothing to write (no shape of three or more accounts), CDKTF's output is left exactly as it is."""
    to_stamp = [shape for shape in shapes(config) if shape.stamped]
    if not to_stamp:
        return []
    manifest = _Manifest.read(staging / "manifest.json")
    written = []
    for shape in to_stamp:
        first, second = shape.built
        stacks = staging / "stacks"
        first_text = (stacks / member_stack(first) / STACK_FILE).read_text(encoding="utf-8")
        template = Template.of(first_text, first, what=member_stack(first))
        second_text = (stacks / member_stack(second) / STACK_FILE).read_text(encoding="utf-8")
        if template.fill(second) != second_text:
            raise StampError(
                f"{member_stack(first)} and {member_stack(second)} are of one shape (OU {shape.ou_id}, the same "
                "relations in the config) but differ in more than their account id, "
                f"{_first_difference(template.fill(second), second_text)}. Fix: make that difference part of the "
                "shape (org_backup/synth/member_stamp.py shapes) or a substitution; until then synthesize with "
                "ORG_BACKUP_MEMBER_STAMPING=off."
            )
        files = _other_files(stacks / member_stack(first))
        if files != _other_files(stacks / member_stack(second)):
            raise StampError(
                f"{member_stack(first)} and {member_stack(second)} have different asset files, which stamping "
                "copies unchanged. Fix: synthesize with ORG_BACKUP_MEMBER_STAMPING=off and report this."
            )
        entry = Template.of(manifest.entries[member_stack(first)], first, what=f"manifest entry {member_stack(first)}")
        for account_id in shape.stamped:
            name = member_stack(account_id)
            target = stacks / name
            target.mkdir()
            (target / STACK_FILE).write_text(template.fill(account_id), encoding="utf-8")
            for relative in files:
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                _link(stacks / member_stack(first) / relative, target / relative)
            manifest.entries[name] = entry.fill(account_id)
            written.append(name)
    manifest.write()
    return written


@dataclass
class _Manifest:
    """CDKTF's manifest.json as text: a head, one block per stack (sorted by name, as CDKTF writes them) and a tail.
    Kept as text because CDKTF's layout is its own (an empty list spans two lines), and parsed only as far as
    needed to add blocks; ``read`` refuses a manifest it could not write back unchanged."""

    path: Path
    head: str
    entries: dict[str, str]
    tail: str

    _ENTRY = re.compile(r'^    "([^"]+)": \{\n(?:^      .*\n|^    \]?\n)*?^    \}', re.MULTILINE)

    @classmethod
    def read(cls, path: Path) -> _Manifest:
        text = path.read_text(encoding="utf-8")
        found = list(cls._ENTRY.finditer(text))
        manifest = cls(path, text[: found[0].start()] if found else text, {}, text[found[-1].end() :] if found else "")
        manifest.entries = {m.group(1): m.group() for m in found}
        if not found or manifest.text() != text or set(manifest.entries) != set(json.loads(text)["stacks"]):
            raise StampError(f"{path} is not in the layout org_backup/synth/member_stamp.py expects. Fix: report this.")
        return manifest

    def text(self) -> str:
        return self.head + ",\n".join(self.entries[name] for name in sorted(self.entries)) + self.tail

    def write(self) -> None:
        self.path.write_text(self.text(), encoding="utf-8")


def _link(source: Path, target: Path) -> None:
    """The same bytes under another name: a hard link, or a copy where the file system has none."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
