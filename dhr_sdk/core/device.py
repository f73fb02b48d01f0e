"""Where torch work runs: ``cpu``, ``cuda[:N]``, ``mps`` or ``auto``.

Part of the plugin API (hashers that train end to end need it); torch is imported only
when a device is resolved, so importing the SDK stays cheap.
"""

from __future__ import annotations

from dhr_sdk.core.errors import DhrError


def resolve_device(device: str) -> str:
    """``"auto"`` -> CUDA when available else CPU; refuse CUDA on a machine without it."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DhrError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if device != "cpu" and not device.startswith(("cuda", "mps")):
        raise DhrError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto")
    return device
