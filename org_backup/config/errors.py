"""One error type for every kind of bad input, so the CLI prints them all the same way and exits 2."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file: where, what was found, which rule it breaks and how to fix it."""

    field: str
    message: str
    code: str = ""  # which rule, for callers that must tell problems apart (never by their wording)
    line: int | None = None  # where the field is in its file, when known

    def render(self) -> str:
        where = f"{self.field} (line {self.line})" if self.line else self.field
        return f"{where}: {self.message}" if where else self.message

    def at_line(self, lines: dict[str, int]) -> Problem:
        """This problem with the line of its field (or of the nearest enclosing one the file has)."""
        path = self.field
        while path and path not in lines:
            path = path.rsplit(".", 1)[0] if "." in path else path.rsplit("[", 1)[0] if "[" in path else ""
        return replace(self, line=lines.get(path)) if path else self


MAX_SHOWN = 50  # problems printed; the rest are counted (5,000 unquoted ids once printed 5,000 lines)


def shown(value: object, limit: int = 60) -> str:
    """A bad value as a message quotes it: its repr, cut to ``limit`` characters with the full length said."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(str(value))} characters)"


class InputError(Exception):
    """Raised with every problem found in one input file, never just the first."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{self.source} has {count} {noun}:"]
        ordered = sorted(self.problems, key=lambda p: p.line or 0)  # by line where known (stable otherwise)
        lines += [f"  - {p.render()}" for p in ordered[:MAX_SHOWN]]
        if count > MAX_SHOWN:
            lines.append(f"  ... and {count - MAX_SHOWN} more (fix these, then run again to see the rest)")
        return "\n".join(lines)


class InputErrors(InputError):
    """Problems in several input files found in one run (the config and the plans file), each file's listed."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        super().__init__(errors[0].source, [p for e in errors for p in e.problems])

    def render(self) -> str:
        return "\n".join(error.render() for error in getattr(self, "errors", []))


class UsageError(Exception):
    """A command's own input cannot be used (a missing synthesized output or stack list, a stack list naming what
    the pipeline does not deploy, a shard out of range): the message says what and the fix. The CLI prints it and
    exits 2; any other exception is a bug and keeps its traceback."""
