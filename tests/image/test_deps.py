"""What the image's dependency layer must hold for a model, read from its pickle."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlopsctl.core.image.deps import pickle_modules


class Exploding:
    """A pickle that would run code if it were loaded for real."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("raise SystemExit('the pickle ran')",))


def fitted(x: object) -> bytes:
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    return pickle.dumps(pipeline.fit(x, [0, 1, 0, 1]), protocol=5)


def test_a_model_fitted_on_an_array_needs_no_pandas() -> None:
    x = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
    assert pickle_modules(fitted(x)) == {"sklearn", "numpy"}


def test_a_model_fitted_on_a_dataframe_needs_pandas_to_be_handed_one() -> None:
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})
    assert pickle_modules(fitted(x)) == {"sklearn", "numpy", "pandas"}


def test_reading_a_pickle_runs_nothing_it_names() -> None:
    assert pickle_modules(pickle.dumps(Exploding())) == set()  # exec is a builtin
