"""Deterministic Lambda zips: the same sources give the same bytes, so the same ``source_code_hash``, so an
unchanged function is never redeployed. Entries are sorted, timestamps fixed at 1980-01-01, permissions fixed,
caches left out."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from org_backup.config.paths import BUILD_DIR as _BUILD
from org_backup.config.paths import PROJECT_ROOT

LAMBDA_SRC = PROJECT_ROOT / "lambda_src"
BUILD_DIR = _BUILD / "lambda"
SHARED = "shared"  # lambda_src/shared/: in every function's zip, importable as ``shared``
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class LambdaPackage:
    path: Path
    source_code_hash: str  # base64 SHA-256 of the zip, as Lambda and Terraform compute it


def _sources(src: Path) -> list[Path]:
    return sorted(
        p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )


def zip_bytes(src: Path, shared: Path | None = None) -> bytes:
    """The zip of ``src``'s files at its root and, when given, ``shared``'s under ``shared/`` (what every function
    imports: lambda_src/shared/), in one sorted order."""
    entries = [(path.relative_to(src).as_posix(), path) for path in _sources(src)]
    if shared is not None:
        entries += [(f"{SHARED}/{path.relative_to(shared).as_posix()}", path) for path in _sources(shared)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


def build(function: str, out_dir: Path = BUILD_DIR) -> LambdaPackage:
    """Zip ``lambda_src/<function>/`` with ``lambda_src/shared/`` into ``out_dir`` (named by content hash) and return
    it with its hash."""
    src = LAMBDA_SRC / function
    if not (src / "handler.py").is_file():
        raise FileNotFoundError(f"{src}/handler.py does not exist")
    data = zip_bytes(src, LAMBDA_SRC / SHARED)
    digest = hashlib.sha256(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{function}-{digest.hexdigest()[:16]}.zip"
    if not path.exists():
        # Written beside it, then renamed (atomic on POSIX): a synth killed mid-write, or a second synth running at
        # the same time (two terminals, two test workers), never finds a half-written zip under the final name.
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            partial.write_bytes(data)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return LambdaPackage(path, base64.b64encode(digest.digest()).decode())
