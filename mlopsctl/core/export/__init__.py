"""`mlopsctl export`: pipelines (Tekton, Kubeflow Pipelines) and deployment manifests for a
cluster, and `export check`, their offline validation."""
