"""Authorization as documents: the pipeline's deploy and plan roles, org-backup's Organizations access, the
guardrail SCPs, and the offline evaluator that decides a request as AWS documents it (also used on key policies)."""
