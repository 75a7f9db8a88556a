"""What every org-backup function shares: structured logs and the first checks of an EventBridge event. Packaged
into each function's zip as ``shared/`` (org_backup/synth/lambda_package.py), beside the function's own modules.

Not Powertools for AWS Lambda: its package zips to about 830 KB (3.23.0, measured) against 5-9 KB for each of these
functions, and these two needs take some 60 lines."""
