"""Helpers the CLI-level tests share: real image folders, CliRunner calls, file digests."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.cli.main import cli


def write_images(folder: Path, images: np.ndarray, prefix: str = "") -> Path:
    """Save ``images`` as ``<prefix>0000.png, <prefix>0001.png, ...`` in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{prefix}{i:04d}.png")
    return folder


def run(*args: object) -> str:
    """``dhr ARGS`` that must succeed; its output."""
    res = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def fail(*args: object) -> str:
    """``dhr ARGS`` that must fail with exit status 1 and exactly one ``Error:`` line."""
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, res.output
    return lines[0]


def digest(path: Path) -> str:
    """SHA-256 of a file's bytes (stores must stay unchanged by read-only commands)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
