"""org-backup: AWS Backup across an AWS Organization, synthesized with CDK for Terraform.

Nothing in this package imports the CDKTF provider bindings; it holds the configuration model, naming rules and
the command-line tools, so they stay fast and usable without node or jsii.
"""
