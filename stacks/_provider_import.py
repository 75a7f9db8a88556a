"""Import provider bindings without running the ``cdktf_cdktf_provider_aws`` package ``__init__``.

That ``__init__`` imports all 2,214 submodules (~5.6 s and ~566 MB here, plus ~3 s of teardown at exit) although
a stack uses a dozen. Registering the package object (built from its import spec, but not executed) before any
submodule import lets Python import just the submodules we name; each submodule loads the shared jsii assembly
through ``.._jsii`` itself, so the synthesized output is byte-identical (tested in tests/test_fast_import.py).
"""

from __future__ import annotations

import importlib.util
import sys

PACKAGE = "cdktf_cdktf_provider_aws"


def register_provider_package() -> None:
    """Make ``cdktf_cdktf_provider_aws.<submodule>`` importable without executing the package ``__init__``.

    A no-op when the package is already imported (normally, or by an earlier call).
    """
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"{PACKAGE} is not installed; run `make install`.")
    sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
