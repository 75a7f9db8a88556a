"""One error type for every kind of bad input, so the CLI prints them all the same way and exits 2."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file: where, what was found, which rule it breaks and how to fix it."""

    field: str
    message: str
    code: str = ""  # which rule, for callers that must tell problems apart (never by their wording)

    def render(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


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
        lines += [f"  - {p.render()}" for p in self.problems[:MAX_SHOWN]]
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
