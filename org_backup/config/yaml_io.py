"""Strict YAML reading: a duplicated key is an error, not a silent "last one wins"; every unquoted run of digits is
a number, as YAML 1.2 reads it.

PyYAML follows YAML 1.1, where an unquoted ``123456789012`` is an integer but ``012345678901`` (a leading zero and
an 8 or 9: not octal) is a string, so an unquoted account id was refused or accepted depending on its digits. Here
both are integers, which the id fields refuse, and the number remembers how it was written, so the fix can show
the quoted form of exactly that text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import yaml

from org_backup.config.errors import InputError, Problem


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type information
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first defined on line {seen[key] + 1}); YAML would silently keep only the last one",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return cast(dict[Any, Any], loader.construct_mapping(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_DIGITS = re.compile(r"^[-+]?[0-9]+$")
_INT_TAG = "tag:yaml.org,2002:int"


class YamlInt(int):
    """An integer read from an unquoted scalar, with the text it was written as (leading zeros included)."""

    yaml_text: str


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if not _DIGITS.match(text):
        return cast(int, loader.construct_yaml_int(node))  # 0x.., 1_000, and the other YAML 1.1 forms
    number = YamlInt(int(text, 10))
    number.yaml_text = text
    return number


_StrictLoader.add_implicit_resolver(_INT_TAG, _DIGITS, list("-+0123456789"))
_StrictLoader.add_constructor(_INT_TAG, _construct_int)


# What the parser says, and what it means to someone editing the file (PyYAML's wording, matched on its problem).
_TRANSLATIONS = (
    ("found character '\\t'", "a tab: YAML indents with spaces only", "replace the tab with spaces"),
    (
        "expected <block end>",
        "the indentation does not line up with the keys above",
        "indent the line like its siblings",
    ),
    (
        "mapping values are not allowed here",
        "a ':' where YAML does not expect a key",
        "quote the value, or fix the indentation",
    ),
    ("expected ',' or ']'", "a '[' list is not closed", "close the list with ']' on the same line"),
    ("expected ',' or '}'", "a '{' mapping is not closed", "close it with '}'"),
    ("found unexpected end of stream", "a quoted string is not closed", "close the quote"),
    (
        "could not find expected ':'",
        "a line that is neither a key nor a list item",
        "add the missing ':' or quote the text",
    ),
    ("duplicate key", "a key appears twice in one mapping", "remove one of them (YAML would keep only the last)"),
)


_START_FROM_EXAMPLE = "start from the example (backup.minimal.yaml or backup.yaml in the repository)"


def load_yaml(
    path: Path, *, named_by: str = "BACKUP_CONFIG (or --config)", empty_fix: str = _START_FROM_EXAMPLE
) -> Any:
    """Parse a YAML file or raise InputError naming the file, line and column, what is wrong in the words of someone
    editing it, and the fix. ``named_by`` is the setting that names this file, for the fix of a missing one;
    ``empty_fix`` the fix of an empty one."""
    return _parse(path, _read(path, named_by, empty_fix))[0]


def _read(path: Path, named_by: str, empty_fix: str = _START_FROM_EXAMPLE) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), [Problem("", f"file not found. Fix: create it, or correct {named_by}.")]) from None
    except IsADirectoryError:
        raise InputError(str(path), [Problem("", f"is a directory, not a file. Fix: correct {named_by}.")]) from None
    except UnicodeDecodeError:
        head = path.read_bytes()[:2]
        if head in (b"\xff\xfe", b"\xfe\xff"):  # the byte-order marks of UTF-16 (Notepad's "Unicode", PowerShell 5's >)
            message = (
                "is UTF-16 text, not UTF-8. Fix: save it as UTF-8 (the editor's encoding menu, or iconv -f UTF-16 "
                "-t UTF-8)."
            )
        else:
            message = f"is not UTF-8 text (a binary file?). Fix: save it as UTF-8, or correct {named_by}."
        raise InputError(str(path), [Problem("", message)]) from None
    except OSError as exc:
        raise InputError(
            str(path), [Problem("", f"cannot be read ({exc.strerror}). Fix: check its permissions.")]
        ) from None
    if not text.strip():
        raise InputError(str(path), [Problem("", f"is empty. Fix: {empty_fix}.")])
    return text


def load_yaml_with_lines(
    path: Path, *, named_by: str = "BACKUP_CONFIG (or --config)", empty_fix: str = _START_FROM_EXAMPLE
) -> tuple[Any, dict[str, int]]:
    """``load_yaml``, and the line of every key and list item by its path as problems name fields
    (``target_ous[0].accounts[2]``), so a problem can say where it is."""
    return _parse(path, _read(path, named_by, empty_fix))


def _lines(node: Any, path: str, found: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = f"{path}.{key.value}" if path else str(key.value)
            found[here] = key.start_mark.line + 1
            _lines(value, here, found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found[f"{path}[{index}]"] = item.start_mark.line + 1
            _lines(item, f"{path}[{index}]", found)


# YAML aliases (*name) repeat a node without copying it, so a short file can stand for billions of values (the
# "billion laughs" document) that reading it field by field would visit one by one, forever. The largest real input,
# an accounts snapshot of 5,000 accounts, is some tens of thousands of values.
MAX_EXPANDED_VALUES = 1_000_000


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for with every alias written out; each distinct node is counted once."""
    if id(node) in sizes:
        return sizes[id(node)]
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, sizes) for item in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


def _parse(path: Path, text: str) -> tuple[Any, dict[str, int]]:
    try:
        loader = _StrictLoader(text)  # PyYAML's reader refuses non-printable characters as it is built
    except yaml.reader.ReaderError as exc:
        row = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise InputError(
            str(path),
            [
                Problem(
                    "",
                    f"contains the control character U+{code:04X} at line {row}, column {column}, which YAML does not "
                    "allow (often a terminal colour code or a NUL pasted in). Fix: delete it; write special characters "
                    'as escapes inside double quotes, e.g. "\\e".',
                )
            ],
        ) from None
    try:
        node = loader.get_single_node()
        if node is not None and (size := _expanded_size(node, {})) > MAX_EXPANDED_VALUES:
            raise InputError(
                str(path),
                [
                    Problem(
                        "",
                        f"uses YAML aliases (*name) that stand for {size:,} values, more than any org-backup input "
                        f"needs ({MAX_EXPANDED_VALUES:,}): nested aliases repeat what they name exponentially. Fix: "
                        "write the values out, or alias only leaves.",
                    )
                ],
            )
        data = loader.construct_document(node) if node is not None else None
        lines: dict[str, int] = {}
        _lines(node, "", lines)
        return data, lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = str(exc.problem)
        found = next(((meaning, fix) for match, meaning, fix in _TRANSLATIONS if match in problem), None)
        text_lines = text.splitlines()
        line = text_lines[mark.line].strip() if mark and mark.line < len(text_lines) else ""
        shown = f" ({line[:60]!r})" if line else ""
        opened = exc.context_mark  # where an unclosed bracket or quote began, when the parser knows
        if opened is not None and opened.line != (mark.line if mark else -1) and opened.line < len(text_lines):
            shown += f", begun at line {opened.line + 1} ({text_lines[opened.line].strip()[:60]!r})"
        quote = _unclosed_quote(text_lines, opened.line if opened else None, mark.line if mark else None)
        if quote is not None:  # PyYAML reads on past an unclosed quote and blames a later line's indentation
            message = (
                f"is not valid YAML: line {quote + 1} ({text_lines[quote].strip()[:60]!r}) opens a quoted string that "
                f"it does not close, so YAML reads on into line {quote + 2} ({problem}). Fix: close the quote on line "
                f"{quote + 1}."
            )
        elif found:
            message = f"is not valid YAML at {where}{shown}: {found[0]} ({problem}). Fix: {found[1]}."
        else:
            message = f"is not valid YAML at {where}{shown}: {problem}. Fix: correct the YAML there."
        raise InputError(str(path), [Problem("", message)]) from None
    except yaml.YAMLError as exc:
        raise InputError(str(path), [Problem("", f"is not valid YAML: {exc}. Fix: correct the YAML.")]) from None
    finally:
        loader.dispose()


def _unclosed_quote(lines: list[str], first: int | None, last: int | None) -> int | None:
    """The first line from ``first`` to ``last`` with an odd number of double (or of single) quotes: one it opens
    and does not close. None without both lines, or when every quote there is closed on its line."""
    if first is None or last is None:
        return None
    for index in range(first, min(last, len(lines) - 1) + 1):
        line = lines[index].split(" #")[0]  # a comment may hold an apostrophe
        if line.lstrip().startswith("#"):
            continue
        if line.replace('\\"', "").count('"') % 2 or line.replace("''", "").count("'") % 2:
            return index
    return None


class _StrictDumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no type information
    """Writes what ``load_yaml`` reads back unchanged: a string of digits is quoted, or it would come back a number."""


_StrictDumper.add_implicit_resolver(_INT_TAG, _DIGITS, list("-+0123456789"))


def dump_yaml(data: Any, **options: Any) -> str:
    """``yaml.safe_dump`` with the reading rules of ``load_yaml`` (every file org-backup writes for itself)."""
    return str(yaml.dump(data, Dumper=_StrictDumper, **options))
