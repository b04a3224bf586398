"""Loading a model folder (model.pkl + model.json) after checking its sha256, and
predicting on rows given in the model's feature order.

A model fitted on a plain array (the template's) gets one numpy array per request. A model
fitted on a pandas DataFrame (it has `feature_names_in_`) gets a DataFrame with those
column names, as it was fitted: slower, and pandas must be installed (`mlopsctl build`
puts it in the image for such a model)."""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_FILE = "model.pkl"
METADATA_FILE = "model.json"
REGRESSION = "regression"
PROBA, DECISION = "predict_proba", "decision_function"
FP64 = "FP64"


class ModelLoadError(Exception):
    """The model folder cannot be served: the service refuses to start."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_metadata(model_dir: Path) -> dict[str, Any]:
    path = model_dir / METADATA_FILE
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{path} is missing: the model's metadata") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    features = metadata.get("features")
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(f, str) for f in features)
    ):
        raise ModelLoadError(f"{path} has no `features` list (the model's input names, in order)")
    return metadata


@dataclass
class ServedModel:
    """A fitted scikit-learn estimator and what the service says about it."""

    name: str
    version: str
    sha256: str
    features: list[str]
    classes: list[Any]
    estimator: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    categorical: frozenset[str] = frozenset()
    # true/false features (model.json `boolean`): a number for the model, 1/0 or true/false
    boolean: frozenset[str] = frozenset()

    frame_columns: tuple[str, ...] | None = None  # fitted on a DataFrame: its columns
    task: str = "classification"  # or regression: what `predict` answers
    # the estimator's other outputs, worked out once at load: predict_proba only when the
    # estimator has it (not SVC without probability=True, not RidgeClassifier),
    # decision_function when it has that
    outputs: tuple[str, ...] = ("predict",)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def is_regressor(self) -> bool:
        return self.task == REGRESSION

    @property
    def predict_datatype(self) -> str:
        """The V2 datatype of `predict`: FP64 for a regressor's numbers, the classes' own
        type for a classifier (INT64 for 0/1/2, BYTES for strings, BOOL for booleans)."""
        return FP64 if self.is_regressor else labels_datatype(self.classes)

    def to_array(self, rows: list[list[Any]]) -> Any:
        """Rows (already checked for length and types) as the input the estimator takes."""
        import numpy as np

        if not self.categorical:
            array = np.array(rows, dtype=np.float64)
            numbers = array
        else:
            array = np.array(rows, dtype=object)
            positions = [i for i, f in enumerate(self.features) if f not in self.categorical]
            numbers = array[:, positions].astype(np.float64)
            array[:, positions] = numbers
        if np.isinf(numbers).any():
            raise ValueError("infinite values: send finite numbers (or null for a missing one)")
        if self.frame_columns is None:
            return array
        import pandas as pd

        column = {f: i for i, f in enumerate(self.features)}
        return pd.DataFrame(
            {
                name: array[:, column[name]].astype(np.float64)
                if name not in self.categorical
                else array[:, column[name]]
                for name in self.frame_columns
            }
        )

    def predict(self, array: Any) -> list[Any]:
        if self.is_regressor:
            return [float(v) for v in self._call("predict", array).ravel().tolist()]
        return [_plain(v) for v in self._call("predict", array).tolist()]

    def scores(self, output: str, array: Any) -> tuple[list[float], list[int]]:
        """predict_proba or decision_function: the values row-major, and their shape
        ([N, classes], or [N] for a binary classifier's decision function)."""
        import numpy as np

        values = np.asarray(self._call(output, array), dtype=np.float64)
        return values.ravel().tolist(), list(values.shape)

    def _call(self, method: str, array: Any) -> Any:
        """The estimator's method on `array`. A float array checked finite here skips
        scikit-learn's own finiteness checks in every step (about 10% of a row's predict):
        the same answer, as the data are finite. Anything else is checked as usual."""
        import sys

        import numpy as np

        call = getattr(self.estimator, method)
        sklearn = sys.modules.get("sklearn")  # imported by unpickling a scikit-learn model
        if (
            sklearn is not None
            and getattr(array, "dtype", None) == np.float64
            and np.isfinite(array).all()
        ):
            with sklearn.config_context(assume_finite=True):
                return call(array)
        return call(array)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def load_model(
    model_dir: Path,
    *,
    expected_sha256: str | None = None,
    name: str | None = None,
    version: str | None = None,
) -> ServedModel:
    """Check model.pkl against the sha256 in model.json (or `expected_sha256`), then unpickle.

    A pickle runs code when loaded: a model whose bytes are not the ones recorded is never
    loaded."""
    model_dir = Path(model_dir)
    metadata = read_metadata(model_dir)
    pkl = model_dir / MODEL_FILE
    if not pkl.is_file():
        raise ModelLoadError(f"{pkl} is missing")
    expected = expected_sha256 or metadata.get("sha256")
    if not isinstance(expected, str) or len(expected) != 64:
        raise ModelLoadError(
            f"{model_dir / METADATA_FILE} records no sha256 of {MODEL_FILE}, "
            "so the model cannot be verified (set MODEL_SHA256 or build with mlopsctl)"
        )
    actual = sha256_file(pkl)
    if actual != expected.lower():
        raise ModelLoadError(
            f"{pkl} has sha256 {actual}, but {expected.lower()} was recorded: refusing to load it"
        )
    try:
        with open(pkl, "rb") as fh:
            estimator = pickle.load(fh)
    except Exception as exc:
        raise ModelLoadError(f"{pkl} does not unpickle: {type(exc).__name__}: {exc}") from exc
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"{pkl} holds a {type(estimator).__name__}, which cannot predict")
    features = list(metadata["features"])
    frame_columns = fitted_columns(estimator, features)
    fitted_width = getattr(estimator, "n_features_in_", None)
    if frame_columns is None and isinstance(fitted_width, int) and fitted_width != len(features):
        raise ModelLoadError(
            f"model.json lists {len(features)} features, but the model was fitted on "
            f"{fitted_width}: no request could be answered"
        )
    task = model_task(estimator, metadata)
    classes: Any = None
    if task != REGRESSION:
        # the estimator's own classes are what predict returns: their types win
        fitted = getattr(estimator, "classes_", None)
        classes = [_plain(c) for c in fitted] if fitted is not None else metadata.get("classes")
    outputs = ["predict"]
    if task != REGRESSION:
        outputs += [m for m in (PROBA, DECISION) if hasattr(estimator, m)]
    return ServedModel(
        name=name or str(metadata.get("name") or "model"),
        version=version or str(metadata.get("version") or actual[:12]),
        sha256=actual,
        features=features,
        classes=list(classes or []),
        estimator=estimator,
        metadata=metadata,
        categorical=frozenset(categorical_features(estimator, features, metadata)),
        boolean=frozenset(boolean_features(features, metadata)),
        frame_columns=frame_columns,
        task=task,
        outputs=tuple(outputs),
    )


def model_task(estimator: Any, metadata: dict[str, Any]) -> str:
    """regression or classification: model.json's `task` when it says, else what the
    estimator is (scikit-learn's estimator type; a classifier has `classes_`)."""
    declared = str(metadata.get("task") or "")
    if declared:
        return REGRESSION if declared == REGRESSION else "classification"
    kind = getattr(estimator, "_estimator_type", None)
    if kind is None:
        try:  # scikit-learn >= 1.6 keeps it in the estimator's tags
            kind = estimator.__sklearn_tags__().estimator_type
        except Exception:
            kind = None
    if kind == "regressor" and not hasattr(estimator, "classes_"):
        return REGRESSION
    # a classifier, or an estimator that does not say: its answers are typed as they come
    return "classification"


def labels_datatype(values: list[Any]) -> str:
    """The V2 datatype of class labels or predictions: INT64, FP64, BOOL or BYTES."""
    if values and all(type(v) is int for v in values):
        return "INT64"
    if values and all(type(v) in (int, float) for v in values):
        return FP64
    if values and all(type(v) is bool for v in values):
        return "BOOL"
    return "BYTES"


def fitted_columns(estimator: Any, features: list[str]) -> tuple[str, ...] | None:
    """The column names the estimator was fitted with (None for a plain array), after
    checking they are the model's features: otherwise no request could be answered."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return None
    columns = tuple(str(n) for n in names)
    if sorted(columns) != sorted(features):
        unlisted = sorted(set(columns) - set(features))
        unfitted = sorted(set(features) - set(columns))
        raise ModelLoadError(
            "model.json's features are not the columns the model was fitted on"
            + (f"; model.json lacks {', '.join(unlisted[:5])}" if unlisted else "")
            + (f"; the model was not fitted on {', '.join(unfitted[:5])}" if unfitted else "")
        )
    try:
        import pandas  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError(
            "the model was fitted on a pandas DataFrame and needs pandas to predict: "
            "install pandas, or fit it on an array"
        ) from exc
    return columns


def boolean_features(features: list[str], metadata: dict[str, Any]) -> set[str]:
    """The features model.json lists as true/false (models from before it say none)."""
    declared = metadata.get("boolean")
    if not isinstance(declared, list):
        return set()
    return {f for f in declared if isinstance(f, str) and f in features}


def categorical_features(estimator: Any, features: list[str], metadata: dict[str, Any]) -> set[str]:
    """Features that take strings: named in metadata, or fed to an encoder by the Pipeline's
    ColumnTransformer (everything else is a number)."""
    declared = metadata.get("categorical")
    if isinstance(declared, list):
        return {str(f) for f in declared}
    found: set[str] = set()
    steps = getattr(estimator, "steps", None) or [(None, estimator)]
    for _, step in steps:
        for _, transformer, columns in getattr(step, "transformers_", []) or []:
            inner = getattr(transformer, "steps", None) or [(None, transformer)]
            if not any(type(t).__name__.endswith("Encoder") for _, t in inner):
                continue
            for column in columns if isinstance(columns, list | tuple) else []:
                if isinstance(column, str):
                    found.add(column)
                elif isinstance(column, int) and 0 <= column < len(features):
                    found.add(features[column])
    return found
