"""The backup plans file (``policies/backup_plans.yaml``) to AWS Organizations BACKUP_POLICY documents: its model,
rendering, AWS's document rules, the effective policies AWS will compute, and the audit frameworks derived from them.
Builds on ``config``; shares a layer with ``iam`` (Organizations' limits count backup policies and SCPs together)."""
