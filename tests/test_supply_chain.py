"""What the build downloads is pinned in the repository: Terraform by the SHA-256 of its release zip
(.ci/terraform-sha256sums), pipenv and its dependencies by hash (.ci/pipenv-requirements.txt), the cdktf CLI's npm
packages without install scripts, and the AWS provider by the committed lock file (terraform-providers.lock.hcl),
which is the only lock file our Terraform commands ever put in a stack.

The Terraform installer runs for real against a loopback HTTP server: no network, nothing outside tmp_path."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from org_backup.ops import terraform
from org_backup.ops.provider_lock import LOCK_FILE, PROVIDER_LOCK, locked_providers, provider_address
from org_backup.ops.terraform import TerraformEnv, TerraformError, find_provider_mirror, required_providers, stack_dirs
from tests.conftest import ROOT, Synthesized

MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
TERRAFORM_VERSION = re.search(r"^TERRAFORM_VERSION := (\S+)$", MAKEFILE, re.MULTILINE).group(1)  # type: ignore[union-attr]
PIPENV_VERSION = re.search(r"^PIPENV_VERSION := (\S+)$", MAKEFILE, re.MULTILINE).group(1)  # type: ignore[union-attr]
INSTALLER = ROOT / ".ci" / "install-terraform"
TERRAFORM_SUMS = ROOT / ".ci" / "terraform-sha256sums"
AWS = "registry.terraform.io/hashicorp/aws"
# Terraform's words when an installed package matches none of the lock file's hashes.
CHECKSUM_ERROR = "doesn't match any of the checksums previously recorded in the dependency lock file"


def _pinned_sums(path: Path = TERRAFORM_SUMS) -> dict[str, str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    for line in lines:  # HashiCorp's terraform_<v>_SHA256SUMS format: hash, two spaces, file name
        assert re.fullmatch(r"[0-9a-f]{64}  terraform_\d+\.\d+\.\d+_[a-z0-9]+_[a-z0-9]+\.zip", line), line
    return {name: digest for digest, name in (line.split("  ") for line in lines)}


def _this_platform() -> str:
    """The platform the installer derives from uname, as Terraform's release names spell it."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    return f"{platform.system().lower()}_{arch or platform.machine()}"


# --- Terraform: the release zip's SHA-256 is committed ---------------------------------------------------------


def test_the_committed_terraform_sums_pin_the_makefiles_version_for_every_build_platform() -> None:
    sums = _pinned_sums()
    assert sums == {
        f"terraform_{TERRAFORM_VERSION}_linux_amd64.zip": "1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc",
        f"terraform_{TERRAFORM_VERSION}_linux_arm64.zip": "a43d1d0da9b9bab214a8305a39db0e40869572594ccf50c416a7756499143633",
        f"terraform_{TERRAFORM_VERSION}_darwin_amd64.zip": "a56d5002b9f7647291faccc3dd1a70350e60fb61e4c45037629508b8fdc2575b",
        f"terraform_{TERRAFORM_VERSION}_darwin_arm64.zip": "867e0808fa971217043e25b7a792b10720c79b1546f8a68479b74f138be73e18",
    }


class Releases:
    """A loopback stand-in for releases.hashicorp.com: serves ``root`` and records every path asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        requests = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                requests.append(self.path)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def publish(self, version: str, zip_bytes: bytes) -> str:
        """Serve ``zip_bytes`` as this platform's release zip of ``version``; returns its SHA-256."""
        folder = self.root / version
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"terraform_{version}_{_this_platform()}.zip").write_bytes(zip_bytes)
        return hashlib.sha256(zip_bytes).hexdigest()


@pytest.fixture
def releases(tmp_path: Path) -> Iterator[Releases]:
    served = Releases(tmp_path / "releases")
    served.root.mkdir()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def _terraform_zip(version_line: str) -> bytes:
    """A release-shaped zip whose ``terraform`` prints ``version_line``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        member = zipfile.ZipInfo("terraform")
        member.external_attr = 0o100755 << 16
        archive.writestr(member, f'#!/bin/sh\necho "{version_line}"\n')
        archive.writestr("LICENSE.txt", "not the real thing\n")
    return buffer.getvalue()


def _fake_terraform_on_path(folder: Path, version_line: str | None) -> str:
    """PATH for the installer: coreutils, curl and unzip, and, when ``version_line`` is given, a ``terraform``
    printing it (standing for one already installed); never the machine's own terraform."""
    folder.mkdir(parents=True, exist_ok=True)
    if version_line is not None:
        fake = folder / "terraform"
        fake.write_text(f'#!/bin/sh\necho "{version_line}"\necho "on {_this_platform()}"\n', encoding="utf-8")
        fake.chmod(0o755)
    return os.pathsep.join([str(folder), "/usr/bin", "/bin"])


def _install(
    releases: Releases, install_dir: Path, version: str, *, path: str, script: Path = INSTALLER
) -> subprocess.CompletedProcess[str]:
    for tool in ("curl", "unzip", "sha256sum"):
        if shutil.which(tool, path="/usr/bin:/bin") is None:
            pytest.skip(f"{tool} is not installed in /usr/bin or /bin")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(PATH=path, NO_PROXY="*", TERRAFORM_RELEASES_URL=releases.url, TERRAFORM_INSTALL_DIR=str(install_dir))
    return subprocess.run(
        ["bash", str(script), version], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_installer_refuses_a_zip_whose_hash_is_not_the_committed_one_and_installs_nothing(
    releases: Releases, tmp_path: Path
) -> None:
    if _this_platform() not in {"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"}:
        pytest.skip(f"no pinned Terraform for {_this_platform()}")
    served = releases.publish(TERRAFORM_VERSION, _terraform_zip(f"Terraform v{TERRAFORM_VERSION}"))
    # The server also vouches for its zip: a check against the server's own SHA256SUMS would pass.
    (releases.root / TERRAFORM_VERSION / f"terraform_{TERRAFORM_VERSION}_SHA256SUMS").write_text(
        f"{served}  terraform_{TERRAFORM_VERSION}_{_this_platform()}.zip\n"
    )
    pinned = _pinned_sums()[f"terraform_{TERRAFORM_VERSION}_{_this_platform()}.zip"]
    install_dir = tmp_path / "bin"
    # A different Terraform already on PATH is no reason to skip the download and its check.
    path = _fake_terraform_on_path(tmp_path / "path", f"Terraform v{TERRAFORM_VERSION}0")
    result = _install(releases, install_dir, TERRAFORM_VERSION, path=path)
    assert result.returncode != 0
    message = result.stderr
    assert f"refusing Terraform {TERRAFORM_VERSION} for {_this_platform()}" in message
    assert f"SHA-256 {served}" in message and f"pins {pinned}" in message
    assert "Nothing was installed" in message
    assert releases.requests == [f"/{TERRAFORM_VERSION}/terraform_{TERRAFORM_VERSION}_{_this_platform()}.zip"]
    assert not install_dir.exists() or not any(install_dir.iterdir())


def test_the_installer_refuses_a_version_without_a_committed_hash_before_downloading(
    releases: Releases, tmp_path: Path
) -> None:
    releases.publish("1.11.3", _terraform_zip("Terraform v1.11.3"))
    install_dir = tmp_path / "bin"
    result = _install(releases, install_dir, "1.11.3", path=_fake_terraform_on_path(tmp_path / "path", None))
    assert result.returncode != 0
    assert f"refusing Terraform 1.11.3 for {_this_platform()}" in result.stderr
    assert f"lists no SHA-256 for terraform_1.11.3_{_this_platform()}.zip" in result.stderr
    assert "expected hash: none; actual hash: not downloaded" in result.stderr
    assert releases.requests == []
    assert not install_dir.exists()


def test_the_installer_skips_only_when_exactly_the_pinned_version_is_installed(
    releases: Releases, tmp_path: Path
) -> None:
    path = _fake_terraform_on_path(tmp_path / "path", f"Terraform v{TERRAFORM_VERSION}")
    result = _install(releases, tmp_path / "bin", TERRAFORM_VERSION, path=path)
    assert (result.returncode, result.stderr, releases.requests) == (0, "", [])


def test_the_installer_installs_a_zip_whose_hash_matches(releases: Releases, tmp_path: Path) -> None:
    """The accepting path, with a test release: the script beside a sums file that lists it (the real zip is not
    on this machine)."""
    served = releases.publish("0.0.1", _terraform_zip("Terraform v0.0.1"))
    copy = tmp_path / "ci"
    copy.mkdir()
    shutil.copy2(INSTALLER, copy / "install-terraform")
    (copy / "terraform-sha256sums").write_text(f"{served}  terraform_0.0.1_{_this_platform()}.zip\n")
    install_dir = tmp_path / "bin"
    path = _fake_terraform_on_path(tmp_path / "path", None)
    result = _install(releases, install_dir, "0.0.1", path=path, script=copy / "install-terraform")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Terraform v0.0.1\n"
    assert sorted(p.name for p in install_dir.iterdir()) == ["terraform"]  # the binary only, not LICENSE.txt
    assert os.access(install_dir / "terraform", os.X_OK)


# --- pipenv: installed from hashes --------------------------------------------------------------------------


def _requirements() -> list[str]:
    text = (ROOT / ".ci" / "pipenv-requirements.txt").read_text(encoding="utf-8")
    logical = text.replace("\\\n", " ")
    return [line.strip() for line in logical.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_pipenv_and_every_dependency_are_pinned_exactly_with_hashes() -> None:
    requirements = _requirements()
    pins: dict[str, str] = {}
    for line in requirements:
        match = re.fullmatch(r"([a-z0-9-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", line)
        assert match, f"not an exact pin with at least one sha256 hash: {line}"
        pins[match.group(1)] = match.group(2)
    assert pins["pipenv"] == PIPENV_VERSION
    assert {"virtualenv", "setuptools", "packaging", "certifi"} <= set(pins)  # pipenv's own requirements
    assert "python3 -m pip install --quiet --require-hashes -r .ci/pipenv-requirements.txt" in MAKEFILE
    assert '"pipenv==$(PIPENV_VERSION)"' not in MAKEFILE


# --- npm: no install scripts ----------------------------------------------------------------------------------


def test_the_cdktf_cli_is_installed_without_install_scripts() -> None:
    recipe = MAKEFILE.split("node_modules/.package-lock.json: package-lock.json\n", 1)[1].split("\n\n", 1)[0]
    assert recipe.strip() == "npm ci --ignore-scripts --no-audit --no-fund"
    # What --ignore-scripts skips: node-pty's install script only, whose prebuilt binary works without it.
    packages = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    assert [name for name, p in packages.items() if p.get("hasInstallScript")] == [
        "node_modules/@cdktf/node-pty-prebuilt-multiarch"
    ]


# --- the AWS provider: one committed lock file ----------------------------------------------------------------


@pytest.fixture(scope="module")
def minimal(synth: Any) -> Synthesized:
    return synth("minimal")


def _hashes(lock: Path) -> list[str]:
    return re.findall(r'"((?:h1|zh):[^"]+)"', lock.read_text(encoding="utf-8"))


def test_the_committed_lock_locks_the_provider_version_every_stack_pins(minimal: Synthesized) -> None:
    locked = locked_providers(PROVIDER_LOCK)
    pinned = {
        provider_address(name, requirement): cast(dict[str, str], requirement)["version"]
        for stack in stack_dirs(minimal.outdir)
        for name, requirement in required_providers(stack).items()
    }
    assert pinned == locked == {AWS: "5.100.0"}
    hashes = _hashes(PROVIDER_LOCK)
    assert [h for h in hashes if h.startswith("h1:")] == ["h1:edXOJWE4ORX8Fm+dpVpICzMZJat4AX0VRCAy/xkcOc0="]
    assert len({h for h in hashes if re.fullmatch(r"zh:[0-9a-f]{64}", h)}) == 15
    # cdktf decides whether to re-lock by this line: it must be the constraint the stacks write.
    assert re.search(r'^\s*constraints = "5\.100\.0"$', PROVIDER_LOCK.read_text(), re.MULTILINE)


def test_a_stack_pinning_a_provider_the_lock_does_not_cover_fails_before_terraform_runs(
    minimal: Synthesized, tmp_path: Path
) -> None:
    stack = tmp_path / "stacks" / "central-backup"
    shutil.copytree(minimal.outdir / "stacks" / "central-backup", stack)
    document = json.loads((stack / "cdk.tf.json").read_text())
    document["terraform"]["required_providers"]["aws"]["version"] = "5.99.0"
    document["terraform"]["required_providers"]["random"] = {"source": "hashicorp/random", "version": "3.7.2"}
    (stack / "cdk.tf.json").write_text(json.dumps(document))
    env = TerraformEnv.prepare(tmp_path / "build")
    with pytest.raises(TerraformError) as refused:
        env.shared_providers(stack)
    message = str(refused.value)
    assert (
        f"stack central-backup pins providers that terraform-providers.lock.hcl does not lock (it locks {AWS} 5.100.0)"
        in message
    )
    assert f"- {AWS} 5.99.0: the lock file has 5.100.0" in message
    assert "- registry.terraform.io/hashicorp/random 3.7.2: not in the lock file" in message
    assert "make providers-lock" in message and "-platform=linux_amd64 -platform=linux_arm64" in message
    assert not (stack / LOCK_FILE).exists()
    assert not (tmp_path / "build" / "terraform-providers").exists()
    # The same refusal for a root module that calls the stack (how validation batches run it).
    root = tmp_path / "batch"
    root.mkdir()
    (root / "main.tf.json").write_text(json.dumps({"module": {"stack_0": {"source": "../stacks/central-backup"}}}))
    with pytest.raises(TerraformError, match=re.escape("5.99.0: the lock file has 5.100.0")):
        env.init(root)


@pytest.mark.terraform
def test_lock_copies_exactly_the_committed_file_into_every_stack(minimal: Synthesized, tmp_path: Path) -> None:
    """`python -m org_backup.ops.terraform lock`, as cdktf.json's app and make synth run it; a stale lock file from
    an earlier build is replaced too."""
    outdir = tmp_path / "cdktf.out"
    shutil.copytree(minimal.outdir, outdir)
    stale = outdir / "stacks" / "management" / LOCK_FILE
    stale.write_text(PROVIDER_LOCK.read_text().replace("h1:edXO", "h1:stale"))
    subprocess.run([sys.executable, "-m", "org_backup.ops.terraform", "lock", str(outdir)], cwd=ROOT, check=True)
    committed = PROVIDER_LOCK.read_bytes()
    stacks = stack_dirs(outdir)
    assert stacks and {d.name: (d / LOCK_FILE).read_bytes() == committed for d in stacks} == {
        d.name: True for d in stacks
    }


@pytest.mark.terraform
def test_a_provider_matching_none_of_the_locked_hashes_is_refused_not_recorded(
    minimal: Synthesized, tmp_path: Path
) -> None:
    wrong = "h1:" + base64.b64encode(hashlib.sha256(b"not the provider").digest()).decode()
    lock = tmp_path / "wrong.lock.hcl"
    text = PROVIDER_LOCK.read_text()
    # Only a wrong h1: (no zh:), so the package is refused whether it comes from a mirror or the registry.
    kept = [line for line in text.splitlines() if '"zh:' not in line]
    lock.write_text("\n".join(kept).replace("h1:edXOJWE4ORX8Fm+dpVpICzMZJat4AX0VRCAy/xkcOc0=", wrong) + "\n")
    stack = tmp_path / "stacks" / "central-backup"
    shutil.copytree(minimal.outdir / "stacks" / "central-backup", stack)
    env = TerraformEnv.prepare(tmp_path / "build", provider_lock=lock)
    with pytest.raises(TerraformError) as refused:
        env.shared_providers(stack)
    assert "-lockfile=readonly" in str(refused.value)
    assert CHECKSUM_ERROR in " ".join(str(refused.value).split())
    assert lock.read_text().count('"h1:') == 1 and wrong in lock.read_text()  # nothing recorded


@pytest.mark.terraform
def test_the_committed_h1_is_the_local_mirrors_provider(minimal: Synthesized, tmp_path: Path) -> None:
    mirror = find_provider_mirror()
    if mirror is None:
        pytest.skip("no Terraform provider mirror on this machine (set TF_PROVIDER_MIRROR)")
    out = tmp_path / "relocked.lock.hcl"
    env = TerraformEnv.prepare(tmp_path / "build")
    terraform.relock(minimal.outdir, out=out, platforms=["linux_amd64"], fs_mirror=mirror, env=env)
    assert locked_providers(out) == locked_providers(PROVIDER_LOCK)
    assert _hashes(out) == [h for h in _hashes(PROVIDER_LOCK) if h.startswith("h1:")]
