"""``moto_server`` with the fixes of tests/rehearsal/moto_fixes.py (where moto answers differently from AWS or
lacks an API), tests/rehearsal/moto_iam.py (IAM enforcement strict enough to rehearse a deployment as the
roles that run it), tests/rehearsal/moto_retries.py (an SDK's retry of a call moto already carried out) and
tests/rehearsal/moto_faults.py (throttling and server errors on demand, answered before anything else).
Started by tests/rehearsal/moto.py: ``python -m tests.rehearsal.moto_server -H ... -p ...``.
"""

from __future__ import annotations

from moto.server import main

from tests.rehearsal import moto_faults, moto_fixes, moto_iam, moto_retries

moto_fixes.install()
moto_iam.install()
moto_faults.install()  # before moto_retries: the outermost layer
moto_retries.install()

if __name__ == "__main__":
    main()
