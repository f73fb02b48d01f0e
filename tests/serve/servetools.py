"""Shared by the dhr serve tests: the small world of stores they serve, a real uvicorn
server on a free loopback port, and helpers to upload images and compare with the CLI."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn

from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.store import Store
from tests.clitools import run, write_images

#: Added by the server to each CLI result entry (the rest must be equal).
SERVER_KEYS = {"name", "explanation"}


def build_world(tmp: Path) -> dict[str, Path]:
    """Digits: 'zeros' is 80% zeros, 'ones' 80% ones, one model; requirement = held-out
    zeros (and ones). 'zeros' holds a symlink to an image outside its folder."""
    d = load_demo_arrays("mnist")
    y = d.class_index
    zeros, ones, twos = (np.flatnonzero(y == c) for c in (0, 1, 2))
    write_images(tmp / "zeros", d.images[np.concatenate([zeros[:120], ones[:30]])])
    write_images(tmp / "ones", d.images[np.concatenate([ones[30:150], twos[:30]])])
    write_images(tmp / "twos", d.images[np.concatenate([twos[30:150], zeros[120:150]])])
    write_images(tmp / "outside", d.images[zeros[300:301]])
    (tmp / "zeros" / "zz-link.png").symlink_to(tmp / "outside" / "0000.png")
    write_images(tmp / "req", d.images[zeros[400:410]])
    write_images(tmp / "req1", d.images[ones[400:405]])
    run("fit", tmp / "zeros", tmp / "ones", "-o", tmp / "model.h5", "--hasher", "itq",
        "-p", "n_bits=16", "-q")
    for name in ("zeros", "ones", "twos"):
        run("encode", tmp / name, "--model", tmp / "model.h5", "-o", tmp / f"{name}.h5", "-q")
        run("graph", tmp / f"{name}.h5", "-q")
        run("rank", tmp / f"{name}.h5", "-p", "solver=closed", "-q")
    served = tmp / "served"
    served.mkdir()
    for name in ("zeros", "ones"):
        shutil.copy(tmp / f"{name}.h5", served / f"{name}.h5")
    return {"tmp": tmp, "served": served, "req": tmp / "req", "req1": tmp / "req1"}


class Server:
    """A real uvicorn server for ``app`` on 127.0.0.1, a free port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        self.client = httpx.Client(base_url=self.url, timeout=120)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
        assert not self.thread.is_alive()




def upload(*folders: Path) -> tuple[list[tuple[str, tuple[str, bytes, str]]], list[str]]:
    """Multipart files of the images of ``folders``, grouped by folder name."""
    files, groups = [], []
    for folder in folders:
        for p in sorted(folder.glob("*.png")):
            files.append(("images", (p.name, p.read_bytes(), "image/png")))
            groups.append(folder.name)
    return files, groups


def store_codes(path: Path, rows: list[int]) -> list[str]:
    il = Store(path).read_importance()
    return [il.codes[r].tobytes().hex() for r in rows]


def short(path: str) -> str:
    """``req/0000.png`` of a requirement path as the CLI names it."""
    return "/".join(Path(path).parts[-2:])


def cli_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A server collection entry as ``dhr assess --json`` has it."""
    out = {k: v for k, v in entry.items() if k not in SERVER_KEYS}
    out["top_images"] = [{k: v for k, v in t.items() if k != "thumbnail"}
                         for t in entry["top_images"]]
    return out

