"""`export kfp` imports the kfp SDK for compiling only: kfp/__init__'s REST client and YAML
loader (which imports requests) stay out, and every kfp module still imports, the real one,
later in the same process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """\
import json, os, sys
from mlopsctl.core.export.kfp import require_kfp

require_kfp()
imported = {name: name in sys.modules for name in ("requests", "kfp.client", "kfp.components")}
switch = os.environ.get("_KFP_RUNTIME")
from kfp import compiler, components, dsl
from kfp.client import Client

print(json.dumps({
    "imported": imported,
    "switch": switch,
    "client": Client.__module__,
    "loader": components.load_component_from_url.__module__,
    "dsl": [hasattr(dsl, name) for name in ("pipeline", "component", "ParallelFor", "If")],
    "compiler": hasattr(compiler, "Compiler"),
}))
"""


def test_kfp_is_imported_for_compiling_and_stays_whole() -> None:
    pytest.importorskip("kfp")
    # a fresh interpreter: this one may have imported kfp already
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["imported"] == {"requests": False, "kfp.client": False, "kfp.components": False}
    assert seen["switch"] is None  # kfp's runtime switch is off again
    assert seen["client"] == "kfp.client.client"  # the real client, not a stand-in
    assert seen["loader"] == "kfp.components.load_yaml_utilities"
    assert seen["dsl"] == [True, True, True, True] and seen["compiler"]
