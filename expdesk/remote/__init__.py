"""Sync with MLflow tracking servers (no Qt, no `mlflow` package): push runs, browse a server as a source.

`http` talks REST over the standard library, `credentials` finds secrets in the environment or the keyring,
`push` uploads indexed runs idempotently, `browse` lists a server's runs into the index (read-only).
"""
