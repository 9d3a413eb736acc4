"""The lineage tests share the bundle tests' index fixtures."""

from tests.bundle.conftest import index, mlflow_contract_index  # noqa: F401
