"""CDKTF stacks, one module per account kind. ``stacks.app.synthesize`` is the entry point main.py uses."""

from stacks._provider_import import register_provider_package

register_provider_package()
