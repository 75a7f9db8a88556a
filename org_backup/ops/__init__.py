"""Commands that call AWS or Terraform, or read what they produced: discover, doctor, readiness, bootstrap, the
plan/deploy helpers (state locks, unrecorded resources, retiring accounts, the plan guard), the scans and previews.
The top layer under the CLI (``org_backup.__main__``): nothing below imports it."""
