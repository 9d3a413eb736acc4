"""The MLflow REST calls expdesk makes, typed: experiments, run lookup/creation, batches, history.

Endpoints are MLflow REST API 2.0 (https://mlflow.org/docs/latest/rest-api.html). Search filters quote tag
names in backticks because ours contain a dot (`tags.\\`expdesk.source_key\\``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from expdesk.remote.batching import Batch
from expdesk.remote.http import MlflowRest, ServerRefused

#: expdesk status -> MLflow RunStatus. `unknown` (a folder that never said) is reported as FINISHED; the
#: exact expdesk word always travels in the `expdesk.status` tag.
_TO_MLFLOW = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
    "interrupted": "KILLED",
    "queued": "SCHEDULED",
    "unknown": "FINISHED",
}
FROM_MLFLOW = {"RUNNING": "running", "FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}
FROM_MLFLOW["SCHEDULED"] = "queued"


def remote_status(status: str) -> str:
    return _TO_MLFLOW.get(status, "FINISHED")


@dataclass
class RemoteRun:
    run_id: str
    experiment_id: str
    artifact_uri: str = ""
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metric_keys: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, run: dict[str, Any]) -> RemoteRun:
        info, data = run.get("info", {}), run.get("data", {})
        return cls(
            run_id=info.get("run_id") or info.get("run_uuid", ""),
            experiment_id=str(info.get("experiment_id", "")),
            artifact_uri=info.get("artifact_uri", ""),
            params={p["key"]: p.get("value", "") for p in data.get("params", [])},
            tags={t["key"]: t.get("value", "") for t in data.get("tags", [])},
            metric_keys=[m["key"] for m in data.get("metrics", [])],
            raw=run,
        )


class ServerApi:
    def __init__(self, client: MlflowRest) -> None:
        self.client = client
        self._experiments: dict[str, str] = {}

    def experiment_id(self, name: str) -> str:
        """The id of experiment `name`, created when missing (cached for this push)."""
        if name in self._experiments:
            return self._experiments[name]
        try:
            found = self.client.call("GET", "experiments/get-by-name", {"experiment_name": name})
            exp_id = str(found["experiment"]["experiment_id"])
        except ServerRefused as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            try:
                exp_id = str(self.client.call("POST", "experiments/create", {"name": name})["experiment_id"])
            except ServerRefused as again:
                # another pusher created it between our two calls
                if again.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = self.client.call("GET", "experiments/get-by-name", {"experiment_name": name})
                exp_id = str(found["experiment"]["experiment_id"])
        self._experiments[name] = exp_id
        return exp_id

    def find_run(self, experiment_id: str, tag: str, value: str) -> RemoteRun | None:
        quoted = value.replace("'", "\\'")
        answer = self.client.call(
            "POST",
            "runs/search",
            {
                "experiment_ids": [experiment_id],
                "filter": f"tags.`{tag}` = '{quoted}'",
                "run_view_type": "ACTIVE_ONLY",
                "max_results": 10,
                "order_by": ["attributes.start_time ASC"],
            },
        )
        runs = answer.get("runs", [])
        # two concurrent first pushes could both create a run: always continue the oldest one
        return RemoteRun.from_json(runs[0]) if runs else None

    def create_run(
        self, experiment_id: str, name: str, start_ms: int | None, tags: dict[str, str]
    ) -> RemoteRun:
        body: dict[str, Any] = {
            "experiment_id": experiment_id,
            "run_name": name,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        if start_ms is not None:
            body["start_time"] = start_ms
        return RemoteRun.from_json(self.client.call("POST", "runs/create", body)["run"])

    def metric_counts(self, run_id: str, keys: set[str]) -> dict[str, int]:
        """How many points of each metric the server holds for this run (paged `metrics/get-history`)."""
        counts: dict[str, int] = {}
        for key in sorted(keys):
            total, token = 0, None
            while True:
                query: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": 25000}
                if token:
                    query["page_token"] = token
                page = self.client.call("GET", "metrics/get-history", query)
                total += len(page.get("metrics", []))
                token = page.get("next_page_token")
                if not token:
                    break
            counts[key] = total
        return counts

    def history(self, run_id: str, key: str) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            query: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": 25000}
            if token:
                query["page_token"] = token
            page = self.client.call("GET", "metrics/get-history", query)
            yield from page.get("metrics", [])
            token = page.get("next_page_token")
            if not token:
                return

    def log_batch(self, run_id: str, batch: Batch) -> None:
        self.client.call("POST", "runs/log-batch", batch.body(run_id))

    def update_run(self, run_id: str, status: str, end_ms: int | None, name: str) -> None:
        body: dict[str, Any] = {"run_id": run_id, "status": status, "run_name": name}
        if end_ms is not None and status != "RUNNING":
            body["end_time"] = end_ms
        self.client.call("POST", "runs/update", body)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.client.call("POST", "runs/set-tag", {"run_id": run_id, "key": key, "value": value})

    def experiments(self) -> dict[str, str]:
        """id -> name of every active experiment (paged)."""
        out: dict[str, str] = {}
        token = None
        while True:
            body: dict[str, Any] = {"max_results": 1000, "view_type": "ACTIVE_ONLY"}
            if token:
                body["page_token"] = token
            page = self.client.call("POST", "experiments/search", body)
            for exp in page.get("experiments", []):
                out[str(exp["experiment_id"])] = exp.get("name", "")
            token = page.get("next_page_token")
            if not token:
                return out

    def search_runs(self, experiment_ids: list[str], page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every run of these experiments, page by page (deleted ones too: the index marks them)."""
        for start in range(0, len(experiment_ids), 100):
            token = None
            while True:
                body: dict[str, Any] = {
                    "experiment_ids": experiment_ids[start : start + 100],
                    "max_results": page_size,
                    "run_view_type": "ALL",
                }
                if token:
                    body["page_token"] = token
                page = self.client.call("POST", "runs/search", body)
                yield from page.get("runs", [])
                token = page.get("next_page_token")
                if not token:
                    break
