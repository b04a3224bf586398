"""Prometheus metrics in the text exposition format (version 0.0.4), kept by hand: a few
counters and one histogram, labelled by route template (never the raw path)."""

from __future__ import annotations

from bisect import bisect_left

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class ServiceMetrics:
    def __init__(self, model_name: str, model_version: str, model_sha256: str) -> None:
        self.model = (model_name, model_version, model_sha256)
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.errors: dict[str, int] = {}
        self.rows = 0
        self.log_dropped = 0  # predicted rows the prediction log could not take

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.latency.get(route)
        if counts is None:
            counts = self.latency[route] = [0] * (len(BUCKETS) + 1)
            self.latency_sum[route] = 0.0
        counts[bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[route] += seconds

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def render(self) -> bytes:
        name, version, sha = (_label(v) for v in self.model)
        model = f'model="{name}",version="{version}"'
        lines = [
            "# HELP mlopsctl_model_info The model being served (always 1).",
            "# TYPE mlopsctl_model_info gauge",
            f'mlopsctl_model_info{{{model},sha256="{sha}"}} 1',
            "# HELP mlopsctl_requests_total HTTP requests by route, method and status.",
            "# TYPE mlopsctl_requests_total counter",
        ]
        for (route, method, status), count in sorted(self.requests.items()):
            lines.append(
                f'mlopsctl_requests_total{{route="{_label(route)}",method="{method}",'
                f'status="{status}",{model}}} {count}'
            )
        lines += [
            "# HELP mlopsctl_request_duration_seconds Time to answer a request.",
            "# TYPE mlopsctl_request_duration_seconds histogram",
        ]
        for route, counts in sorted(self.latency.items()):
            labels = f'route="{_label(route)}",{model}'
            total = 0
            for bound, count in zip(BUCKETS, counts, strict=False):
                total += count
                lines.append(
                    f'mlopsctl_request_duration_seconds_bucket{{{labels},le="{bound}"}} {total}'
                )
            total += counts[-1]
            lines.append(f'mlopsctl_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
            lines.append(
                f"mlopsctl_request_duration_seconds_sum{{{labels}}} {self.latency_sum[route]:.6f}"
            )
            lines.append(f"mlopsctl_request_duration_seconds_count{{{labels}}} {total}")
        lines += [
            "# HELP mlopsctl_errors_total Requests that failed: bad_request (4xx), model (5xx).",
            "# TYPE mlopsctl_errors_total counter",
        ]
        for kind, count in sorted(self.errors.items()):
            lines.append(f'mlopsctl_errors_total{{kind="{kind}",{model}}} {count}')
        lines += [
            "# HELP mlopsctl_predictions_total Rows predicted.",
            "# TYPE mlopsctl_predictions_total counter",
            f"mlopsctl_predictions_total{{{model}}} {self.rows}",
            "# HELP mlopsctl_prediction_log_dropped_total Predicted rows the prediction log "
            "could not write (full disk, unwritable folder); the predictions were answered.",
            "# TYPE mlopsctl_prediction_log_dropped_total counter",
            f"mlopsctl_prediction_log_dropped_total{{{model}}} {self.log_dropped}",
        ]
        return ("\n".join(lines) + "\n").encode()
