"""Entry point of `cdktf synth` / `make synth`: validate the config, then synthesize one stack per account.

Of the synth path (main.py, stacks/, what they import), only this file reads the environment (and, for
ORG_BACKUP_ROLE=plan, asks STS whether there are credentials):
- BACKUP_CONFIG: path of the config file (default: backup.yaml);
- CDKTF_OUTDIR: output directory (set by the cdktf CLI; default: cdktf.out);
- ORG_BACKUP_ROLE: "deploy" (default) or "plan": the role providers assume (the pipeline plans read-only); "plan"
  first checks that there are AWS credentials at all (it serves make plan and cdktf diff, which need them);
- ORG_BACKUP_SYNTH_CACHE: where outputs of earlier synths are kept (org_backup/synth/cache.py; default
  build/synth-cache), or "off" to synthesize every time (benchmarks, tests that compare two synths);
- ORG_BACKUP_SYNTH_LIST: "1" lists every stack after the summary;
- ORG_BACKUP_MEMBER_STAMPING: "off" builds every member stack through CDKTF instead of two per shape with the
  others written from them (org_backup/synth/member_stamp.py; the output is the same, tests/test_member_stamp.py);
- ORG_BACKUP_LOCAL_API: test-only; "1" synthesizes for a local AWS API (see stacks/common.py SynthOptions), whose
  address Terraform then takes from AWS_ENDPOINT_URL, which must then name this machine.
Exit codes: 0 ok, 2 invalid input (nothing written).

`make synth` and cdktf.json run it as `python -O main.py`: -O skips the runtime type checks the jsii bindings do
on every call (about a quarter of synth time with 1,000 accounts). The tests synthesize without -O, so every code
path still runs with those checks on. Output is identical either way (benchmarks/synth_scale.py).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from org_backup.config.errors import InputError
from org_backup.config.model import DEFAULT_CONFIG
from org_backup.synth.cache import SynthCache
from org_backup.synth.inputs import Inputs
from org_backup.synth.summary import summary

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# jsii warns on every run under Node 20 (end-of-life for it since 2026-10-30), and Python prints the warning as a
# dozen b'...' lines; docs/deploy.md, "Set up" says it once instead, as make does. Other Node versions keep jsii's warning.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def main() -> int:
    started = time.monotonic()
    config_path = Path(os.environ.get("BACKUP_CONFIG", DEFAULT_CONFIG))
    outdir = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
    try:
        inputs = Inputs.load(config_path)
    except InputError as exc:
        print(exc.render(), file=sys.stderr)
        return 2

    role = os.environ.get("ORG_BACKUP_ROLE", "deploy")
    if role not in ("deploy", "plan"):
        print(
            f"ORG_BACKUP_ROLE={role!r} is not 'deploy' or 'plan'. Fix: unset it or use one of those.", file=sys.stderr
        )
        return 2
    # A plan-role synth is for commands that then use credentials (make plan, make diff, `cdktf diff`, whose CLI
    # tells this program nothing else): without any, stop here in one line, before anything is written.
    if role == "plan":
        from org_backup.ops import credentials

        if not credentials.require("ORG_BACKUP_ROLE=plan (make plan, cdktf diff)", inputs.config.pipeline_region):
            return 2
    local_api = os.environ.get("ORG_BACKUP_LOCAL_API", "")
    if local_api not in ("", "1"):
        print(f"ORG_BACKUP_LOCAL_API={local_api!r} is not '1'. Fix: unset it (it is for tests only).", file=sys.stderr)
        return 2
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if local_api == "1" and urlsplit(endpoint).hostname not in LOOPBACK:
        # Test-mode stacks have no prevent_destroy: they must never be pointed at anything but a local test API.
        print(
            f"ORG_BACKUP_LOCAL_API=1 needs AWS_ENDPOINT_URL on this machine (127.0.0.1, ::1 or localhost), "
            f"not {endpoint!r}. Fix: unset ORG_BACKUP_LOCAL_API (it is for tests only) or start the local API.",
            file=sys.stderr,
        )
        return 2
    if local_api == "1":
        print("TEST MODE: providers take the local API from AWS_ENDPOINT_URL; prevent_destroy lifted.", file=sys.stderr)
    stamping = os.environ.get("ORG_BACKUP_MEMBER_STAMPING", "")
    if stamping not in ("", "off"):
        print(f"ORG_BACKUP_MEMBER_STAMPING={stamping!r} is not 'off'. Fix: unset it or set it to off.", file=sys.stderr)
        return 2
    cache_setting = os.environ.get("ORG_BACKUP_SYNTH_CACHE", "")
    cache = None if cache_setting == "off" else SynthCache(Path(cache_setting)) if cache_setting else SynthCache()
    key = cache.key(inputs, role=role, local_api=local_api == "1") if cache is not None else ""
    names = cache.install(key, outdir) if cache is not None else None
    how = "copied from the synth cache (inputs unchanged)"
    if names is None:
        how = "synthesized"
        # Imported only now: loading the CDKTF bindings costs seconds, which a valid cache entry saves.
        from stacks.app import SynthError, synthesize
        from stacks.common import SynthOptions

        options = SynthOptions(local_api=local_api == "1", role=role)  # type: ignore[arg-type]
        try:
            names = synthesize(
                inputs=inputs,
                outdir=outdir,
                options=options,
                checked=(lambda staging: cache.store(key, staging)) if cache is not None else None,
                stamping=stamping != "off",
            )
        except SynthError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    elapsed = time.monotonic() - started
    print(f"{len(names)} stacks (role {role}) from {config_path} {how} into {outdir}/stacks in {elapsed:.1f} s:")
    for line in summary(inputs, outdir, names):
        print(line)
    if os.environ.get("ORG_BACKUP_SYNTH_LIST") == "1":
        for name in names:
            print(f"  {name}")
    for policy in inputs.split_policies:
        print(
            f"Note: plan {policy.plan} exceeds 10,000 characters as one policy; split ({policy.split}): {policy.name}"
        )
    return 0


if __name__ == "__main__":
    exit_code = main()
    # Everything is written (synth swaps its output in before returning); skip interpreter teardown. Python would
    # otherwise free every construct proxy and jsii's exit hook would wait for node to shut down: 0.4 s for the
    # example, seconds for 1,000 accounts. node exits on its own when its stdin pipe closes.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
