"""The input files (backup.yaml, the accounts snapshot) as one typed, validated model, and everything derived from it
alone: names and ARNs (``naming``), Region facts, the strict YAML reader, the shared validation types and the one
error type. The bottom layer: it imports nothing else of org_backup (``.importlinter``)."""
