"""How long ``dhr pretrain`` takes on 10,000 28×28 images (issue target: ≤ 10 minutes on
2 CPU cores), and where a training step's time goes.

One command::

    python benchmarks/pretrain_speed.py

1. **Step profile** (in this process, one batch of 256 images, the default params but for
   the row's encoder, thread count and memory layout): wall seconds of augmentation (two
   views), forward + loss, backward and the Adam step, and the CPU seconds of the step
   (all threads). Rows: the default (``convnet-s2``, 1 thread, ``channels_last``), the
   same with 2 threads and in the plain layout, and ``convnet`` with 1 and 2 threads (the
   earlier default, 2 threads: the peer, measured in the same run; ratios printed).
2. **The command**: writes the 10,000 animal-mnist images as PNG files into a temporary
   folder, runs ``dhr pretrain FOLDER -o FILE --json`` (default schedule unless ``-p``
   says otherwise) and reports images/s, the wall and CPU seconds of every epoch, the
   command's total wall clock (start-up and decoding included), the target, and the
   1-minute load average sampled every 5 s while it ran.

The tables are printed and written to ``docs/results/pretrain-speed.md`` with the load
average before and after (the machine is shared: a ratio within one run is the
meaningful number). ``--keep FILE`` keeps the trained backbone file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "results" / "pretrain-speed.md"
TARGET_SECONDS = 600.0
PHASES = ("augment", "forward", "backward", "step")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=10000, help="animal-mnist images (≤ 10000).")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                    help="dhr pretrain param for the command run (repeatable).")
    ap.add_argument("--profile-steps", type=int, default=5,
                    help="Timed steps per layout (after 2 warm-up steps); 0: no profile.")
    ap.add_argument("--no-command", action="store_true", help="Only the step profile.")
    ap.add_argument("--keep", type=Path, default=None, help="Keep the backbone file here.")
    return ap.parse_args(argv)


#: Profile rows: (arch, torch threads, channels_last, note).
CONFIGS = (("convnet-s2", 1, True, "dhr pretrain default"),
           ("convnet-s2", 2, True, ""),
           ("convnet-s2", 1, False, "plain layout"),
           ("convnet", 1, True, ""),
           ("convnet", 2, True, "earlier default (peer)"))


def profile(steps: int, arch: str, threads: int, channels_last: bool) -> dict[str, float]:
    """Mean wall seconds per phase and CPU seconds of one training step (batch of 256)."""
    import torch

    from dhr_sdk.model.ssl_net import build_encoder
    from dhr_sdk.offline.pretrain import PretrainParams
    from dhr_sdk.offline.pretrain.augment import two_views
    from dhr_sdk.offline.pretrain.simclr import _projector, nt_xent

    p = PretrainParams(arch=arch)
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x = torch.rand(p.batch_size, p.channels, p.image_size, p.image_size, generator=gen)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    encoder = build_encoder(p.arch, p.channels, p.width).to(memory_format=fmt).train()
    head = _projector(8 * p.width, p).train()
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=p.lr)
    times: dict[str, list[float]] = {k: [] for k in (*PHASES, "cpu")}
    for i in range(steps + 2):
        c0, t0 = time.process_time(), time.perf_counter()
        views = two_views(x, gen, p)
        t1 = time.perf_counter()
        z = head(encoder(views.contiguous(memory_format=fmt)))
        loss = nt_xent(z[: len(x)], z[len(x):], p.temperature)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if i >= 2:
            for k, a, b in zip(PHASES, (t0, t1, t2, t3), (t1, t2, t3, t4), strict=True):
                times[k].append(b - a)
            times["cpu"].append(time.process_time() - c0)
    return {k: statistics.mean(v) for k, v in times.items()}


def write_images(folder: Path, n: int) -> None:
    """The first ``n`` animal-mnist images as PNG files (labels are not written)."""
    from PIL import Image

    from dhr_sdk.datasets.demo import load_demo_arrays

    for i, im in enumerate(load_demo_arrays("animal-mnist").images[:n]):
        Image.fromarray(im).save(folder / f"{i:05d}.png")


def run_command(folder: Path, out: Path, pairs: list[str]
                ) -> tuple[dict[str, Any], float, float, list[float]]:
    """``dhr pretrain`` as a user runs it; its --json answer, the wall clock, the CPU
    seconds (user + system) it used (on a shared machine the wall clock grows with the
    other jobs' load, the CPU seconds much less) and the 1-minute load average sampled
    every 5 s while it ran."""
    dhr = [sys.executable, "-c", "from dhr_sdk.cli.main import main; main()"]
    argv = [*dhr, "pretrain", str(folder), "-o", str(out), "--json", "-q",
            *[a for kv in pairs for a in ("-p", kv)]]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    loads: list[float] = []
    finished = threading.Event()

    def sample() -> None:
        while not finished.wait(5.0):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    sampler.start()
    try:
        done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    finally:
        finished.set()
        sampler.join()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(done.stdout), wall, cpu, loads


def profile_lines(prof: list[dict[str, float]], steps: int) -> list[str]:
    lines = [f"## One training step (batch of 256 images = 512 views, 28², mean of {steps} "
             "steps)", "",
             "| encoder | threads | memory format | " + " | ".join(f"{k} s" for k in PHASES)
             + " | step wall s | step CPU s | note |",
             "|---|---|---|" + "---|" * (len(PHASES) + 3)]
    for (arch, threads, cl, note), t in zip(CONFIGS, prof, strict=True):
        wall = sum(t[k] for k in PHASES)
        lines.append(f"| {arch} | {threads} | {'channels_last' if cl else 'contiguous'} | "
                     + " | ".join(f"{t[k]:.3f}" for k in PHASES)
                     + f" | {wall:.3f} | {t['cpu']:.3f} | {note} |")
    default, peer = prof[0], prof[-1]
    wall = sum(default[k] for k in PHASES)
    peer_wall = sum(peer[k] for k in PHASES)
    return [*lines, "", f"- Earlier default / default: {peer_wall / wall:.2f}× the wall "
            f"clock, {peer['cpu'] / default['cpu']:.2f}× the CPU seconds of a step; "
            f"augmentation is {100 * default['augment'] / wall:.0f} % of a default step."]


def command_lines(res: dict[str, Any], wall: float, cpu: float, n: int,
                  pairs: list[str], loads: list[float]) -> list[str]:
    epochs = res["epoch_seconds"]
    epoch_cpu = res["epoch_cpu_seconds"]
    train = sum(epochs)
    load = (f"{min(loads):.2f}-{max(loads):.2f} (mean {statistics.mean(loads):.2f}, "
            f"{len(loads)} samples)" if loads else "not sampled (run under 5 s)")
    p = res["params"]
    met = ("met" if wall <= TARGET_SECONDS else "missed") if n == 10000 else \
        "n/a (the target is for 10,000 images)"
    return ["## `dhr pretrain` on the images", "",
            f"`dhr pretrain FOLDER -o FILE --json{''.join(' -p ' + kv for kv in pairs)}` on "
            f"{n} animal-mnist PNG files ({p['image_size']}², {p['arch']} width "
            f"{p['width']}, {p['epochs']} epochs, batch {p['batch_size']}, "
            f"{p['threads']} thread(s)).", "",
            "| images | epochs | images/s | wall s per epoch (mean, min-max) | CPU s per "
            "epoch (mean) | training s | command wall s | command CPU s | target s | "
            "target (wall) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {n} | {len(epochs)} | {n * len(epochs) / train:.0f} | "
            f"{statistics.mean(epochs):.1f} ({min(epochs):.1f}-{max(epochs):.1f}) | "
            f"{statistics.mean(epoch_cpu):.1f} | {train:.0f} | {wall:.0f} | {cpu:.0f} | "
            f"{TARGET_SECONDS:.0f} | {met} |", "",
            f"- 1-minute load average while it ran: {load}.",
            f"- Final loss {res['loss'][-1]:.3f} (first epoch {res['loss'][0]:.3f}); "
            f"wall seconds per epoch: {', '.join(f'{t:.1f}' for t in epochs)}; CPU seconds "
            f"per epoch: {', '.join(f'{t:.1f}' for t in epoch_cpu)}."]


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    import torch

    command = shlex.join(["python", "benchmarks/pretrain_speed.py", *argv])
    load_before = os.getloadavg()
    lines = ["# `dhr pretrain` speed", "",
             f"Generated by `{command}`; do not edit by hand. Shared 2-core CPU machine "
             f"({os.cpu_count()} cores seen); load average (1, 5, 15 min) before: "
             + ", ".join(f"{v:.2f}" for v in load_before) + ".", ""]
    if args.profile_steps:
        threads = torch.get_num_threads()
        prof = [profile(args.profile_steps, arch, n, cl) for arch, n, cl, _ in CONFIGS]
        torch.set_num_threads(threads)
        lines += [*profile_lines(prof, args.profile_steps), ""]
        print("\n".join(lines), flush=True)
    if not args.no_command:
        with tempfile.TemporaryDirectory(prefix="dhr-pretrain-speed-") as tmp:
            folder = Path(tmp) / "images"
            folder.mkdir()
            write_images(folder, args.images)
            res, wall, cpu, loads = run_command(folder, Path(tmp) / "backbone.h5",
                                                args.param)
            if args.keep is not None:
                args.keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(tmp) / "backbone.h5", args.keep)
        part = command_lines(res, wall, cpu, args.images, args.param, loads)
        print("\n".join(part), flush=True)
        lines += [*part, ""]
    lines.append("Load average after: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
                 + ".")
    PAGE.write_text("\n".join(lines) + "\n")
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main(sys.argv[1:])
