"""How long ``dhr pretrain`` takes on 10,000 28×28 images (issue target: ≤ 10 minutes on
2 CPU cores), and where a training step's time goes.

One command::

    python benchmarks/pretrain_speed.py

1. **Step profile** (in this process, the default params, one batch of 256 images): the
   seconds of augmentation (two views), forward + loss, backward and the Adam step, for
   the encoder and views in ``channels_last`` memory format (what ``dhr pretrain`` uses)
   and in the plain contiguous format (the peer, measured in the same run; ratio printed).
2. **The command**: writes the 10,000 animal-mnist images as PNG files into a temporary
   folder, runs ``dhr pretrain FOLDER -o FILE --json`` (default schedule unless ``-p``
   says otherwise) and reports images/s, the seconds of every epoch, the command's total
   wall clock (start-up and decoding included) and the target.

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
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch threads of the profile (the command uses torch's default).")
    ap.add_argument("--no-command", action="store_true", help="Only the step profile.")
    ap.add_argument("--keep", type=Path, default=None, help="Keep the backbone file here.")
    return ap.parse_args(argv)


def profile(steps: int, channels_last: bool) -> dict[str, float]:
    """Mean seconds per phase of one training step (default params, batch of 256)."""
    import torch

    from dhr_sdk.model.ssl_net import build_encoder
    from dhr_sdk.offline.pretrain import PretrainParams
    from dhr_sdk.offline.pretrain.augment import augment
    from dhr_sdk.offline.pretrain.simclr import _projector, nt_xent

    p = PretrainParams()
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x = torch.rand(p.batch_size, p.channels, p.image_size, p.image_size, generator=gen)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    encoder = build_encoder(p.arch, p.channels, p.width).to(memory_format=fmt).train()
    head = _projector(8 * p.width, p).train()
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=p.lr)
    times: dict[str, list[float]] = {k: [] for k in PHASES}
    for i in range(steps + 2):
        t0 = time.perf_counter()
        views = torch.cat([augment(x, gen, p), augment(x, gen, p)])
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
    return {k: statistics.mean(v) for k, v in times.items()}


def write_images(folder: Path, n: int) -> None:
    """The first ``n`` animal-mnist images as PNG files (labels are not written)."""
    from PIL import Image

    from dhr_sdk.datasets.demo import load_demo_arrays

    for i, im in enumerate(load_demo_arrays("animal-mnist").images[:n]):
        Image.fromarray(im).save(folder / f"{i:05d}.png")


def run_command(folder: Path, out: Path, pairs: list[str]
                ) -> tuple[dict[str, Any], float, float]:
    """``dhr pretrain`` as a user runs it; its --json answer, the wall clock and the CPU
    seconds (user + system) it used: on a shared machine the wall clock grows with the
    other jobs' load, the CPU seconds much less."""
    dhr = [sys.executable, "-c", "from dhr_sdk.cli.main import main; main()"]
    argv = [*dhr, "pretrain", str(folder), "-o", str(out), "--json", "-q",
            *[a for kv in pairs for a in ("-p", kv)]]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(done.stdout), wall, cpu


def profile_lines(prof: dict[bool, dict[str, float]], threads: int, steps: int) -> list[str]:
    lines = [f"## One training step (batch of 256 images = 512 views, default params, "
             f"{threads} torch thread(s), mean of {steps} steps)", "",
             "| memory format | " + " | ".join(f"{k} s" for k in PHASES) + " | total s |",
             "|---|" + "---|" * (len(PHASES) + 1)]
    for cl, name in ((True, "channels_last (dhr pretrain)"), (False, "contiguous (peer)")):
        t = prof[cl]
        lines.append(f"| {name} | " + " | ".join(f"{t[k]:.3f}" for k in PHASES)
                     + f" | {sum(t.values()):.3f} |")
    ratio = sum(prof[False].values()) / sum(prof[True].values())
    aug = prof[True]["augment"] / sum(prof[True].values())
    return [*lines, "", f"- contiguous / channels_last step time: {ratio:.2f}×; "
            f"augmentation is {100 * aug:.0f} % of a channels_last step."]


def command_lines(res: dict[str, Any], wall: float, cpu: float, n: int,
                  pairs: list[str]) -> list[str]:
    epochs = res["epoch_seconds"]
    train = sum(epochs)
    p = res["params"]
    met = ("met" if wall <= TARGET_SECONDS else "missed") if n == 10000 else \
        "n/a (the target is for 10,000 images)"
    return ["## `dhr pretrain` on the images", "",
            f"`dhr pretrain FOLDER -o FILE --json{''.join(' -p ' + kv for kv in pairs)}` on "
            f"{n} animal-mnist PNG files ({p['image_size']}², {p['arch']} width "
            f"{p['width']}, {p['epochs']} epochs, batch {p['batch_size']}).", "",
            "| images | epochs | images/s | s per epoch (mean, min-max) | training s | "
            "command wall s | command CPU s | target s | target (wall) |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {n} | {len(epochs)} | {n * len(epochs) / train:.0f} | "
            f"{statistics.mean(epochs):.1f} ({min(epochs):.1f}-{max(epochs):.1f}) | "
            f"{train:.0f} | {wall:.0f} | {cpu:.0f} | {TARGET_SECONDS:.0f} | {met} |", "",
            f"- Final loss {res['loss'][-1]:.3f} (first epoch {res['loss'][0]:.3f}); "
            f"seconds per epoch: {', '.join(f'{t:.0f}' for t in epochs)}."]


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
        torch.set_num_threads(args.threads)
        prof = {cl: profile(args.profile_steps, cl) for cl in (False, True)}
        lines += [*profile_lines(prof, args.threads, args.profile_steps), ""]
        print("\n".join(lines), flush=True)
    if not args.no_command:
        with tempfile.TemporaryDirectory(prefix="dhr-pretrain-speed-") as tmp:
            folder = Path(tmp) / "images"
            folder.mkdir()
            write_images(folder, args.images)
            res, wall, cpu = run_command(folder, Path(tmp) / "backbone.h5", args.param)
            if args.keep is not None:
                args.keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(tmp) / "backbone.h5", args.keep)
        part = command_lines(res, wall, cpu, args.images, args.param)
        print("\n".join(part), flush=True)
        lines += [*part, ""]
    lines.append("Load average after: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
                 + ".")
    PAGE.write_text("\n".join(lines) + "\n")
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main(sys.argv[1:])
