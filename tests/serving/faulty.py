"""A real (if unhelpful) estimator for the service's failure paths: it fails on rows whose
first feature is negative, as a model with a bug would."""

from __future__ import annotations

from typing import Any

import numpy as np


class FailsOnNegative:
    classes_ = np.array([0, 1])

    def predict(self, X: Any) -> Any:
        X = np.asarray(X, dtype=float)
        if (X[:, 0] < 0).any():
            raise RuntimeError("this model cannot handle a negative first feature")
        return (X[:, 0] > 1).astype(int)
