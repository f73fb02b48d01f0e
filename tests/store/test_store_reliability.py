"""No command loses a good store (issue #16): one write per command, kills, bad params,
full disks, read-only folders, permissions, owners and symbolic links."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.assessment.targets import open_target
from dhr_sdk.cli.main import cli
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.offline.pipeline import build, encode, fit
from dhr_sdk.offline.relevance import graph_and_rank, import_codes
from dhr_sdk.store import Store, StoreWriteError, atomic, writer
from dhr_sdk.testing import clustered_codes
from tests.plugintools import backbone, graph_and_ranker, hasher

BUILD = ["-p", "n_bits=16", "-p", "ranker.solver=closed"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images") / "imgs"
    folder.mkdir()
    d = load_demo_arrays("mnist")
    for i in range(60):
        Image.fromarray(d.images[i]).save(folder / f"{i:04d}.png")
    return folder


@pytest.fixture(scope="module")
def template(images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete, assessable store (ITQ 16 bits) built once; tests work on copies."""
    out = tmp_path_factory.mktemp("template") / "old.h5"
    build(images, out, hasher("itq", n_bits=16), backbone=backbone(), **graph_and_ranker())
    return out


@pytest.fixture
def old(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(template, tmp_path / "s.h5"))


def assessable(path: Path) -> None:
    target = open_target(path)
    assert target.importance.n_images == len(target.image_ids) == 60
    assert Store(path).verify()["importance"] == "verified"


def invoke(*args: str | Path) -> tuple[int, list[str]]:
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output.strip().splitlines()


def one_line(code: int, lines: list[str], *words: str) -> None:
    assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), lines
    for word in words:
        assert word in lines[0], lines


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- one write per command --------------------------------------------------------------


@pytest.fixture
def replaces(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Destinations of every ``os.replace`` of the store package."""
    seen: list[str] = []
    real = os.replace

    def count(src: str | Path, dst: str | Path) -> None:
        seen.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", count)
    return seen


def test_every_multi_element_command_replaces_the_store_once(
        old: Path, images: Path, tmp_path: Path, replaces: list[str]) -> None:
    build(images, old, hasher("itq", n_bits=32), backbone=backbone(), **graph_and_ranker())
    assert replaces == ["s.h5"] and Store(old).read_model().n_bits == 32
    encode(images, old, tmp_path / "e.h5")
    assert replaces[1:] == ["e.h5"]
    graph_and_rank(tmp_path / "e.h5", **graph_and_ranker())
    fit([images], tmp_path / "m.h5", hasher("lsh", n_bits=16), backbone())
    np.save(tmp_path / "c.npy", clustered_codes(30, 16, 3, 0.05))
    import_codes(tmp_path / "i.h5", tmp_path / "c.npy")
    import_codes(tmp_path / "i.h5", tmp_path / "c.npy", overwrite=True)
    assert replaces == ["s.h5", "e.h5", "e.h5", "m.h5", "i.h5", "i.h5"]
    build(old, old, hasher("itq", n_bits=16), backbone=backbone(),  # a store source
          **graph_and_ranker())
    assert replaces[-1] == "s.h5" and len(replaces) == 7
    assessable(old)
    assert listing(tmp_path) == ["c.npy", "e.h5", "i.h5", "m.h5", "s.h5"]


@pytest.mark.parametrize("bad", [
    ["-p", "ranker.solver=closd"], ["-p", "graph.radius=-1"], ["-p", "n_bits=nope"],
    ["-p", "backbone.nope=1"], ["-p", "rankr.solver=closed"], ["--ranker", "nope"],
    ["--builder", "nope"], ["--model", "missing.h5"], ["--hasher", "gah"],
])
def test_a_bad_build_option_leaves_the_store_byte_identical(old: Path, images: Path,
                                                            bad: list[str]) -> None:
    before, files = old.read_bytes(), listing(old.parent)
    code, lines = invoke("build", images, "-o", old, *BUILD, *bad, "-q")
    one_line(code, lines)
    assert old.read_bytes() == before and listing(old.parent) == files
    assessable(old)


def test_a_failure_late_in_a_command_leaves_the_store_byte_identical(
        old: Path, images: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = old.read_bytes()

    def broken(self: writer.StoreWriter, *args: object) -> None:
        raise RuntimeError("the ranker's output could not be stored")

    monkeypatch.setattr(writer.StoreWriter, "write_importance", broken)
    with pytest.raises(RuntimeError, match="could not be stored"):
        build(images, old, hasher("itq", n_bits=32), backbone=backbone(), **graph_and_ranker())
    with pytest.raises(RuntimeError, match="could not be stored"):
        graph_and_rank(old, **graph_and_ranker())
    monkeypatch.setattr(writer.StoreWriter, "write_codes", broken)
    with pytest.raises(RuntimeError, match="could not be stored"):
        encode(images, old, old)
    assert old.read_bytes() == before and listing(old.parent) == ["s.h5"]


# -- kill -9 ------------------------------------------------------------------------------

KILLED_BUILD = textwrap.dedent("""
    import sys, time
    from dhr_sdk.store import writer
    original = writer.StoreWriter.write_importance
    def slow(self, *args):  # the last element of the build is in the working copy
        original(self, *args)
        self.h5.flush()
        open(sys.argv[1], "w").close()
        time.sleep(120)
    writer.StoreWriter.write_importance = slow
    from dhr_sdk.cli.main import cli
    cli(sys.argv[2:], prog_name="dhr")
""")


def _build_child(images: Path, out: Path, script: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", script, *extra, "build", str(images), "-o",
                             str(out), "-p", "n_bits=32", "-p", "ranker.solver=closed", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_in_the_write_phase_of_build_keeps_the_previous_store(old: Path,
                                                                      images: Path) -> None:
    before = old.read_bytes()
    marker = old.with_name("marker")
    child = _build_child(images, old, KILLED_BUILD, str(marker))
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert child.poll() is None, "the build exited early"
            assert time.monotonic() < deadline, "the build is too slow"
            time.sleep(0.05)
        temps = [p for p in old.parent.iterdir() if p.name.startswith(".s.h5.tmp-")]
        assert len(temps) == 1 and stat.S_IMODE(temps[0].stat().st_mode) == 0o600
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert old.read_bytes() == before
    assessable(old)
    build(images, old, hasher("itq", n_bits=32), backbone=backbone(), **graph_and_ranker())
    assert listing(old.parent) == ["marker", "s.h5"]  # the dead build's copy is removed
    assert Store(old).read_model().n_bits == 32
    assessable(old)


@pytest.mark.slow
def test_sigkill_at_any_moment_of_build_leaves_a_complete_store(old: Path,
                                                                images: Path) -> None:
    """Kills spread over a whole ``dhr build``: the store is the old one or the new one."""
    old_bytes = old.read_bytes()
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "dhr_sdk", "build", str(images), "-o",
                    str(old.with_name("timing.h5")), "-p", "n_bits=32", "-p",
                    "ranker.solver=closed", "-q"], check=True)
    seconds = time.monotonic() - start
    outcomes = set()
    for fraction in (0.0, 0.4, 0.7, 0.9):
        child = _build_child(images, old, "from dhr_sdk.cli.main import main; main()")
        # 0.0: killed 0.3 s after start, while Python still imports: before any write
        time.sleep(max(0.3, fraction * seconds))
        child.send_signal(signal.SIGKILL)
        child.wait()
        assessable(old)
        bits = Store(old).read_model().n_bits
        assert bits == 32 or old.read_bytes() == old_bytes
        outcomes.add(bits)
    assert 16 in outcomes  # at least one kill came before the single write


# -- permissions, owner, symbolic links ------------------------------------------------------


def test_writes_keep_the_mode_and_the_owner(old: Path, images: Path, tmp_path: Path) -> None:
    os.chmod(old, 0o600)
    if os.geteuid() == 0:
        os.chown(old, 4321, 4321)
    assert invoke("graph", old, "-q")[0] == 0
    assert invoke("build", images, "-o", old, *BUILD, "-q")[0] == 0
    st = old.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (4321, 4321)
    np.save(tmp_path / "c.npy", clustered_codes(30, 16, 3, 0.05))
    import_codes(tmp_path / "new.h5", tmp_path / "c.npy")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "new.h5").stat().st_mode) == 0o666 & ~mask


def test_writing_through_a_symbolic_link_writes_its_target(old: Path, images: Path,
                                                           tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = elsewhere / "link.h5"
    link.symlink_to(os.path.relpath(old, elsewhere))
    assert invoke("graph", link, "-p", "radius=1", "-q")[0] == 0
    assert link.is_symlink() and Store(old).read_graph().radius == 1
    assert invoke("rank", link, "-p", "solver=closed", "-q")[0] == 0
    assert invoke("build", images, "-o", link, *BUILD, "-p", "graph.radius=3", "-q")[0] == 0
    assert link.is_symlink() and Store(old).read_graph().radius == 3
    assessable(link)
    assert listing(elsewhere) == ["link.h5"] and listing(tmp_path) == ["elsewhere", "s.h5"]


# -- full disk, read-only file system ----------------------------------------------------------


def test_too_little_free_space_is_one_line_before_anything_is_written(
        old: Path, images: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = old.read_bytes()
    monkeypatch.setattr(atomic, "free_bytes", lambda directory: 64_000)
    for args in (["build", images, "-o", old, *BUILD], ["graph", old],
                 ["rank", old, "-p", "solver=closed"]):
        one_line(*invoke(*args, "-q"), "not enough free space", str(old))
    assert old.read_bytes() == before and listing(old.parent) == ["s.h5"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failing_file_system_is_one_line(old: Path, images: Path, code: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    before = old.read_bytes()

    def fail(path: Path) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(atomic, "_create_private", fail)
    codes = old.with_name("x.npy")
    np.save(codes, clustered_codes(10, 16, 2, 0.1))
    for args in (["build", images, "-o", old, *BUILD], ["graph", old],
                 ["import-codes", codes, old.with_name("new.h5")]):
        one_line(*invoke(*args, "-q"), os.strerror(code), "cannot write")
    assert old.read_bytes() == before and listing(old.parent) == ["s.h5", "x.npy"]


def _mount(where: Path, options: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (root only; never fills the real disk)."""
    where = tmp_path / "small"
    if not _mount(where, "size=4m"):
        pytest.skip("needs root and permission to mount a tmpfs")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


FILL = textwrap.dedent("""
    import sys, numpy as np
    from dhr_sdk.store import FeaturesRecord, Provenance, Store, atomic
    if sys.argv[3] == "no-check":
        atomic.free_bytes = lambda directory: None  # the write itself meets the full disk
    from dhr_sdk.cli.main import cli
    big = np.random.default_rng(0).random((int(sys.argv[2]), 1000), dtype=np.float32)
    @cli.command("fill")
    def fill():
        with Store(sys.argv[1]).edit() as w:
            w.write_features(FeaturesRecord("big", big, "pixels", {}), Provenance("t", "b"))
    cli(["fill"], prog_name="dhr")
""")


def test_a_full_disk_is_one_line_and_never_a_crash(small_disk: Path) -> None:
    np.save(small_disk / "c.npy", clustered_codes(100, 16, 3, 0.05))
    store = small_disk / "s.h5"
    import_codes(store, small_disk / "c.npy")
    before = store.read_bytes()
    runs = [(rows, check) for check in ("check", "no-check") for rows in (1100, 1500, 3000)]
    for rows, check in runs:
        proc = subprocess.run([sys.executable, "-c", FILL, str(store), str(rows), check],
                              capture_output=True, text=True, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1, (rows, check, proc.returncode, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"Error: cannot write {store}"), lines
        assert store.read_bytes() == before
        assert listing(small_disk) == ["c.npy", "s.h5"]
    assert Store(store).read_codes().codes.shape == (100, 2)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder holding a store that cannot be written: a read-only tmpfs (root) or a
    folder without write permission (other users)."""
    where = tmp_path / "ro"
    mounted = _mount(where, "size=4m")
    where.mkdir(exist_ok=True)
    np.save(tmp_path / "c.npy", clustered_codes(100, 16, 3, 0.05))
    import_codes(where / "s.h5", tmp_path / "c.npy")
    try:
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        elif os.geteuid() == 0:
            pytest.skip("root can write any folder; needs permission to mount a tmpfs")
        else:
            where.chmod(0o555)
        yield where
    finally:
        if mounted:
            subprocess.run(["umount", str(where)], check=False)
        else:
            where.chmod(0o755)


def test_a_read_only_folder_is_one_line(read_only: Path, tmp_path: Path) -> None:
    store = read_only / "s.h5"
    before = store.read_bytes()
    for args in (["graph", store], ["import-codes", tmp_path / "c.npy", read_only / "n.h5"],
                 ["build", store, "-o", store, *BUILD]):
        one_line(*invoke(*args, "-q"), "cannot write")
    assert store.read_bytes() == before and listing(read_only) == ["s.h5"]
    with pytest.raises(StoreWriteError, match="nothing was written"):
        import_codes(read_only / "n.h5", tmp_path / "c.npy")
