"""Where the project's own files are: the checkout's root and the folders the code reads from or writes to."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = PROJECT_ROOT / "build"  # what commands write and nobody commits (.gitignore)
POLICIES_DIR = PROJECT_ROOT / "policies"  # the JSON policy templates and the default plans file
BUILDSPECS_DIR = PROJECT_ROOT / "buildspecs"
