"""Make a throw-away installed distribution with ``dhr`` entry points on ``sys.path``."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path


def make_distribution(root: Path, dist: str, entry_points: dict[str, str],
                      modules: dict[str, str], version: str = "1.0") -> Path:
    """Write ``modules`` (name -> source) and a dist-info declaring ``entry_points``.

    Returns the directory to put on ``sys.path``.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[dhr]\n{lines}\n")
    importlib.invalidate_caches()
    return root


HASHER_MODULE = '''
import numpy as np
from pydantic import Field
from dhr_sdk import Hasher, Params, hookimpl
from dhr_sdk.codes.packing import pack_bits

class P(Params):
    n_bits: int = Field(16, description="bits")

class {cls}(Hasher):
    name = "{name}"
    Params = P
    def fit(self, data, progress=None):
        self.mean_ = data.features.mean(0)
        return self
    def encode(self, x):
        self.check_fitted()
        return pack_bits(np.resize(x - self.mean_, (len(x), self.n_bits)) > 0)
    def get_state(self):
        return {{"mean": self.mean_}}
    def set_state(self, s):
        self.mean_ = s["mean"]
        return self

@hookimpl
def register_hashers(register):
    register({cls})
'''


def hasher_module(name: str, cls: str = "FakeHasher") -> str:
    return HASHER_MODULE.format(name=name, cls=cls)
