"""`mlopsctl export serving`: a Kustomize base (KServe InferenceService, or Deployment,
Service, HPA and PDB), one overlay per registry stage pinning the image by digest, and Argo CD
Applications that sync each overlay.

The base carries no `image:` at all; each overlay's `image.json` (a JSON 6902 patch) adds it
as REPO@sha256:... Kustomize's `images:` transformer only rewrites the image fields it
knows, so a patch is the one way every kind ends up pinned."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core.files import write_atomic
from mlopsctl.core.image.context import PORT, SERVICE_ENV
from mlopsctl.errors import BadInput

TARGETS = ("kserve", "kubernetes")
DEFAULT_OUT = Path("deploy") / "serving"
IMAGE_PATCH = "image.json"
MODEL_ANNOTATION = "mlopsctl.io/model-version"
HEADER = "# Written by `mlopsctl export serving`; overlays are moved by `mlopsctl deploy STAGE`.\n"
# the env a pod needs beyond the image's own (the image's ENV already sets the rest)
_ENV = ("MODEL_DIR", "HOST", "PORT", "HOME")


@dataclass(frozen=True)
class ServingSpec:
    name: str  # the model's name: the Kubernetes objects' name
    target: str = "kserve"
    route: bool = False
    repo_url: str = ""
    repo_path: str = ""  # the overlays' parent folder inside repo_url
    revision: str = "HEAD"
    auto_sync: bool = False
    argocd_namespace: str = "argocd"
    namespace_prefix: str = ""  # stage X deploys to NAMESPACE_PREFIX-X (default: the name)
    stages: list[str] = field(default_factory=lambda: ["staging", "production"])


@dataclass(frozen=True)
class Pin:
    """What one stage's overlay runs."""

    stage: str
    version: str
    image: str  # REPO@sha256:...

    @property
    def digest(self) -> str:
        return self.image.rpartition("@")[2]


@dataclass
class Export:
    out: Path
    files: list[Path] = field(default_factory=list)
    pins: list[Pin] = field(default_factory=list)
    unheld: list[str] = field(default_factory=list)  # stages nobody holds: no overlay


def kube_name(name: str) -> str:
    """A DNS-1035 label from a model name (InferenceService names must be one)."""
    import re

    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not label or not label[0].isalpha():
        label = f"model-{label}".strip("-")
    return label[:45].rstrip("-")


def container_name(target: str) -> str:
    return "kserve-container" if target == "kserve" else "model"


def port_name(target: str) -> str:
    return "http1" if target == "kserve" else "http"


def labels(spec: ServingSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": kube_name(spec.name),
        "app.kubernetes.io/component": "predictor",
        "app.kubernetes.io/managed-by": "mlopsctl",
    }


def _container(spec: ServingSpec) -> dict[str, Any]:
    def probe(path: str, delay: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": PORT},
            "initialDelaySeconds": delay,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        }

    return {
        "name": container_name(spec.target),
        "args": [],
        "env": [{"name": key, "value": SERVICE_ENV[key]} for key in _ENV],
        "ports": [{"name": port_name(spec.target), "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": probe("/v2/health/ready", 5),
        "livenessProbe": probe("/v2/health/live", 15),
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def base_documents(spec: ServingSpec) -> dict[str, list[dict[str, Any]]]:
    """File name -> its documents, for the base."""
    name = kube_name(spec.name)
    meta = {"name": name, "labels": labels(spec)}
    pod = {
        "securityContext": POD_SECURITY,
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    files: dict[str, list[dict[str, Any]]] = {}
    if spec.target == "kserve":
        service, selector = f"{name}-predictor", {"serving.kserve.io/inferenceservice": name}
        files["inferenceservice.yaml"] = [
            {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "metadata": {
                    **meta,
                    "annotations": {
                        "serving.kserve.io/deploymentMode": "RawDeployment",
                        "serving.kserve.io/autoscalerClass": "hpa",
                    },
                },
                "spec": {
                    "predictor": {
                        "minReplicas": 2,
                        "maxReplicas": 5,
                        "containers": [_container(spec)],
                        **pod,
                    }
                },
            }
        ]
    else:
        service, selector = name, {"app.kubernetes.io/name": name}
        files["deployment.yaml"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {**meta, "annotations": {}},
                "spec": {
                    "selector": {"matchLabels": selector},
                    "template": {
                        "metadata": {"labels": labels(spec)},
                        "spec": {
                            "automountServiceAccountToken": False,
                            "containers": [_container(spec)],
                            **pod,
                        },
                    },
                },
            }
        ]
        files["service.yaml"] = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {
                    "selector": selector,
                    "ports": [{"name": "http", "port": 80, "targetPort": PORT, "protocol": "TCP"}],
                },
            }
        ]
        files["hpa.yaml"] = [
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta,
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": 2,
                    "maxReplicas": 5,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 70},
                            },
                        }
                    ],
                },
            }
        ]
        files["pdb.yaml"] = [
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta,
                "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
            }
        ]
    files["servicemonitor.yaml"] = [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": meta,
            "spec": {
                "selector": {"matchLabels": selector},
                "endpoints": [
                    {"port": port_name(spec.target), "path": "/metrics", "interval": "30s"}
                ],
            },
        }
    ]
    files["prometheusrule.yaml"] = [_alerts(spec, name)]
    if spec.route:
        files["route.yaml"] = [
            {
                "apiVersion": "route.openshift.io/v1",
                "kind": "Route",
                "metadata": meta,
                "spec": {
                    "to": {"kind": "Service", "name": service, "weight": 100},
                    "port": {"targetPort": port_name(spec.target)},
                    "wildcardPolicy": "None",
                    "tls": {
                        "termination": "edge",
                        "insecureEdgeTerminationPolicy": "Redirect",
                    },
                },
            }
        ]
    return files


def _alerts(spec: ServingSpec, name: str) -> dict[str, Any]:
    """Alerts on the service's own metrics (mlopsctl/serving/metrics.py)."""
    job = 'namespace="{{ $labels.namespace }}"'
    scope = 'namespace=~".+"'
    infer = f'route="/v2/models/{{name}}/infer",{scope}'

    def alert(alert: str, expr: str, summary: str, severity: str = "warning") -> dict[str, Any]:
        return {
            "alert": alert,
            "expr": expr,
            "for": "5m",
            "labels": {"severity": severity, "model": name},
            "annotations": {"summary": summary, "description": f"{summary} ({job})"},
        }

    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": labels(spec)},
        "spec": {
            "groups": [
                {
                    "name": f"{name}.serving",
                    "rules": [
                        alert(
                            f"{_camel(name)}HighErrorRatio",
                            "sum by (namespace) (rate(mlopsctl_requests_total"
                            f'{{{infer},status=~"5.."}}[5m])) / sum by (namespace) '
                            f"(rate(mlopsctl_requests_total{{{infer}}}[5m])) > 0.05",
                            "more than 5% of inference requests fail",
                            "critical",
                        ),
                        alert(
                            f"{_camel(name)}HighLatencyP99",
                            "histogram_quantile(0.99, sum by (namespace, le) (rate("
                            f"mlopsctl_request_duration_seconds_bucket{{{infer}}}[5m]))) > 0.5",
                            "p99 inference latency above 500 ms",
                        ),
                        alert(
                            f"{_camel(name)}ModelErrors",
                            "sum by (namespace) (increase(mlopsctl_errors_total"
                            f'{{kind="model",{scope}}}[10m])) > 0',
                            "the model raised errors while predicting",
                        ),
                    ],
                }
            ]
        },
    }


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def target_path(target: str) -> str:
    """The JSON pointer of the container's image in the base's workload."""
    if target == "kserve":
        return "/spec/predictor/containers/0/image"
    return "/spec/template/spec/containers/0/image"


def workload_kind(target: str) -> str:
    return "InferenceService" if target == "kserve" else "Deployment"


def image_patch(target: str, pin: Pin) -> list[dict[str, Any]]:
    return [
        {"op": "add", "path": target_path(target), "value": pin.image},
        {
            "op": "add",
            "path": "/metadata/annotations/" + MODEL_ANNOTATION.replace("/", "~1"),
            "value": pin.version,
        },
    ]


def read_pin(overlay: Path) -> Pin | None:
    """The image and version an overlay pins (None when it has no image patch)."""
    path = overlay / IMAGE_PATCH
    if not path.is_file():
        return None
    try:
        ops = json.loads(path.read_text(encoding="utf-8"))
        image = next(o["value"] for o in ops if str(o["path"]).endswith("/image"))
        version = next(o["value"] for o in ops if str(o["path"]).endswith("model-version"))
    except (ValueError, KeyError, TypeError, StopIteration):
        raise BadInput(
            f"{path} is not the image patch mlopsctl writes",
            f"rewrite it: mlopsctl deploy {overlay.name}",
        ) from None
    return Pin(overlay.name, str(version), str(image))


def read_target(out: Path) -> str:
    if (out / "base" / "inferenceservice.yaml").is_file():
        return "kserve"
    if (out / "base" / "deployment.yaml").is_file():
        return "kubernetes"
    raise BadInput(f"{out} has no serving base", "write it first: mlopsctl export serving")


def write_overlay(out: Path, target: str, name: str, pin: Pin, namespace: str) -> list[Path]:
    """The stage's overlay: the base in the stage's namespace, the image pinned."""
    overlay = out / "overlays" / pin.stage
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": ["../../base"],
        "patches": [
            {
                "path": IMAGE_PATCH,
                "target": {"kind": workload_kind(target), "name": kube_name(name)},
            }
        ],
    }
    written = [overlay / "kustomization.yaml", overlay / IMAGE_PATCH]
    _write_yaml(written[0], [kustomization])
    write_atomic(written[1], json.dumps(image_patch(target, pin), indent=2) + "\n")
    return written


def namespace_of(spec: ServingSpec, stage: str) -> str:
    return f"{spec.namespace_prefix or kube_name(spec.name)}-{stage}"


def argocd_documents(spec: ServingSpec, stages: list[str]) -> dict[str, list[dict[str, Any]]]:
    name = kube_name(spec.name)
    project = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name, "namespace": spec.argocd_namespace},
        "spec": {
            "description": f"{spec.name}: the model's serving, one Application per stage",
            "sourceRepos": [spec.repo_url],
            "destinations": [
                {"server": "https://kubernetes.default.svc", "namespace": namespace_of(spec, s)}
                for s in stages
            ],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
        },
    }
    files = {"appproject.yaml": [project]}
    for stage in stages:
        sync: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
        if spec.auto_sync:
            sync["automated"] = {"prune": True, "selfHeal": True}
        files[f"application-{stage}.yaml"] = [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {
                    "name": f"{name}-{stage}",
                    "namespace": spec.argocd_namespace,
                    "labels": {**labels(spec), "mlopsctl.io/stage": stage},
                },
                "spec": {
                    "project": name,
                    "source": {
                        "repoURL": spec.repo_url,
                        "targetRevision": spec.revision,
                        "path": f"{spec.repo_path}/overlays/{stage}",
                    },
                    "destination": {
                        "server": "https://kubernetes.default.svc",
                        "namespace": namespace_of(spec, stage),
                    },
                    "syncPolicy": sync,
                },
            }
        ]
    return files


def write_export(out: Path, spec: ServingSpec, pins: list[Pin], unheld: list[str]) -> Export:
    """Write base, overlays and Argo CD files under `out` (each file atomically)."""
    if spec.target not in TARGETS:
        raise BadInput(f"unknown target {spec.target!r}", "use --target kserve or kubernetes")
    result = Export(out, pins=pins, unheld=unheld)
    base = base_documents(spec)
    for file, docs in base.items():
        result.files.append(_write_yaml(out / "base" / file, docs))
    result.files.append(
        _write_yaml(
            out / "base" / "kustomization.yaml",
            [
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": sorted(base),
                }
            ],
        )
    )
    for stale in (out / "base").glob("*.yaml"):
        if stale.name not in base and stale.name != "kustomization.yaml":
            stale.unlink()  # e.g. route.yaml when --route is dropped
    for pin in pins:
        result.files += write_overlay(
            out, spec.target, spec.name, pin, namespace_of(spec, pin.stage)
        )
    for file, docs in argocd_documents(spec, [p.stage for p in pins]).items():
        result.files.append(_write_yaml(out / "argocd" / file, docs))
    return result


def _write_yaml(path: Path, docs: list[dict[str, Any]]) -> Path:
    import yaml

    text = HEADER + "---\n".join(
        yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) for doc in docs
    )
    write_atomic(path, text)
    return path
