"""Where the time of a train step goes: device compute against host topology, per loss and device count.

    python benchmarks/bench_train.py [--losses bce cldice sat bm] [--devices 1 2 4] [--steps 5]
        [--warmup 2] [--dataset synthetic] [--batch-size 8] [--size 96] [--stall-timeout 180] [--json FILE]
        [field.path=value ...]

For each loss it builds the named config ``<dataset>_<loss>`` and times the trainer's own jitted
step (`jaxtopo.training.loop.make_train_step`, with the model, optimiser and placement of
`train_and_evaluate`) on the dataset's training images. Per loss and device count it prints the
median wall time of a step (outputs ready), the host topology time inside it (the persistence
and matching callbacks, `HOST_CLOCK`), the rest as device time, and the step's ratio to the BCE
step on as many devices; a second table gives each device count's speedup over one device.

Timing: the warm-up steps (the first compiles; never timed) run on distinct batches, and the
timed steps cycle over those batches again, so the targets' persistence is cached as in training
from the second epoch on; batches are placed on the devices beforehand, as the trainer's prefetch
thread does. The losses' steps are timed in interleaved rounds: a slow stretch of a shared machine
hits every loss alike, which keeps the ratios fair.

Devices: every device count runs in a child process. On a CPU, N devices are forced with
XLA_FLAGS=--xla_force_host_platform_device_count=N, which must be set before jax is imported;
they share the machine's cores, so there "scaling" measures the overhead of splitting the batch,
not a speedup. On a GPU or TPU the children use the first N real devices, and a count above
what the machine has is skipped. A step that makes no progress for --stall-timeout seconds (a
deadlock) ends its child; the loss is reported as hung and the others are timed again without it.
The goal (issue 11): on a GPU, a SATLoss step at most 1.25x the BCE step (the SATLoss paper
reports about 15x).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

# the SATLoss step against the BCE step on a GPU (issue 11; the paper's own code: about 15x)
GPU_GOAL = 1.25


class StallWatch:
    """Ends the process, after printing ``HUNG <json>``, when one step runs longer than ``seconds``.

    A step that never returns (a deadlock in a host callback) cannot be interrupted from Python;
    leaving with what it was doing lets the parent report it and time the other losses.
    """

    def __init__(self, seconds: float | None):
        self.seconds, self.doing, self.since = seconds, None, time.monotonic()
        if seconds:
            threading.Thread(target=self._watch, daemon=True, name="bench-stall-watch").start()

    def start(self, doing: dict) -> None:
        self.doing, self.since = doing, time.monotonic()

    def stop(self) -> None:
        self.doing = None

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            doing, since = self.doing, self.since
            if doing is not None and time.monotonic() - since > self.seconds:
                print("HUNG " + json.dumps({**doing, "after_s": self.seconds}), flush=True)
                os._exit(3)


def measure(dataset: str, losses, devices: int, steps: int, warmup: int, overrides=(),
            stall_timeout: float | None = None) -> dict:
    """Times the train step of each loss on the first ``devices`` local devices, in this process.

    Returns {"machine": ..., "devices", "data": ..., "retraced", "losses": {loss: {"objective",
    "weight", "first_step_s", "step_s": [...], "host_s": [...], "host_calls": [...]}}}, the
    per-step lists in the order timed; or {"skipped": why} where this process lacks the devices
    or they cannot share the batch. ``stall_timeout``: see `StallWatch` (None: wait for ever).
    """
    import jax
    from flax import nnx

    from jaxtopo.data.common import to_unit_float
    from jaxtopo.host.image_loss import HOST_CLOCK
    from jaxtopo.training import data as data_lib
    from jaxtopo.training import named_config, override
    from jaxtopo.training.loop import (TRACES, _mesh_of, build_model, _place_batch, _shardings, make_optimizer,
                                       make_train_step)

    configs = {loss: override(named_config(f"{dataset}_{loss}"), list(overrides)) for loss in losses}
    first = configs[losses[0]]
    batch_size = first.train.batch_size
    available = len(jax.local_devices())
    if devices > available:
        return {"skipped": f"{jax.default_backend()} has {available} device{'s' if available > 1 else ''}"}
    if batch_size % devices:
        return {"skipped": f"batch {batch_size} does not split over {devices} devices"}
    mesh = _mesh_of(devices)
    replicated, batch_split = _shardings(mesh)
    watch = StallWatch(stall_timeout)

    # the configs differ only in their loss fields, so they share one dataset
    images, labels = data_lib.load_splits(first)["train"]
    batches = []
    for i in range(warmup):
        idx = np.arange(i * batch_size, (i + 1) * batch_size) % len(images)
        batches.append(_place_batch((to_unit_float(images[idx]), labels[idx].astype(np.float32)), batch_split))

    # one initial model and optimiser for every loss (they differ only in their loss fields): the
    # eager initialisation takes seconds on a CPU; the total step count sets only the lr schedule
    model, _ = build_model(first, images.shape[-1])
    optimizer = nnx.Optimizer(model, make_optimizer(first.train, total_steps=1000), wrt=nnx.Param)
    model_graph, model_state = nnx.split(model)
    opt_graph, opt_state = nnx.split(optimizer)
    # on the host: each loss places its own copy, as the step donates (consumes) the states it gets
    initial = jax.device_get((model_state, opt_state))

    runs = {}
    for loss, config in configs.items():
        step = make_train_step(config.loss, model_graph, opt_graph, mesh)
        # lambda at full strength: a scheduled config would otherwise time its term switched off
        run = dict(step=step, states=jax.device_put(initial, replicated), weight=np.float32(config.loss.weight),
                   objective=objective_text(config.loss), step_s=[], host_s=[], host_calls=[])
        start = time.perf_counter()
        for i in range(warmup):
            watch.start({"loss": loss, "objective": run["objective"], "phase": "warm-up"})
            model_state, opt_state, _ = step(*run["states"], *batches[i], run["weight"])
            run["states"] = jax.block_until_ready((model_state, opt_state))
            if i == 0:
                run["first_step_s"] = time.perf_counter() - start
        watch.stop()
        print(f"  {loss} on {devices} device{'s' if devices > 1 else ''}: compiled and warmed up in "
              f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        runs[loss] = run

    traces = TRACES["train_step"]
    for i in range(steps):
        for loss, run in runs.items():
            images_i, labels_i = batches[i % warmup]
            watch.start({"loss": loss, "objective": run["objective"], "phase": "timed step"})
            HOST_CLOCK.take()
            calls = HOST_CLOCK.calls
            start = time.perf_counter()
            model_state, opt_state, measurements = run["step"](*run["states"], images_i, labels_i, run["weight"])
            jax.block_until_ready((model_state, opt_state, measurements))
            run["step_s"].append(time.perf_counter() - start)
            run["host_s"].append(HOST_CLOCK.take())
            run["host_calls"].append(HOST_CLOCK.calls - calls)
            run["states"] = (model_state, opt_state)
    watch.stop()

    return {
        "machine": machine(),
        "devices": devices,
        "data": {"dataset": dataset, "image": list(images.shape[1:]), "batch": batch_size,
                 "widths": list(first.model.widths)},
        # a step compiled again while timed would put compilation into the tables
        "retraced": TRACES["train_step"] != traces,
        "losses": {loss: {"objective": run["objective"], "weight": float(configs[loss].loss.weight),
                          **{key: run[key] for key in ("first_step_s", "step_s", "host_s", "host_calls")}}
                   for loss, run in runs.items()},
    }


def objective_text(loss) -> str:
    """What the loss trains with, e.g. "bce + 0.001 x sat", "dice_cldice (alpha 0.5)"."""
    if loss.topological != "none":
        return f"{loss.pixel} + {loss.weight:g} x {loss.topological}"
    return f"dice_cldice (alpha {loss.weight:g})" if loss.pixel == "dice_cldice" else loss.pixel


def machine() -> dict:
    """The CPU model and cores, jax's backend and device kind, and the versions that matter."""
    import flax
    import jax

    from jaxtopo.training.sweep import cpu_model

    cpu = cpu_model()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return {"cpu": cpu, "cores": cores, "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind,
            "device_count": jax.device_count(), "jax": jax.__version__, "flax": flax.__version__,
            "python": platform.python_version()}


def summarize(runs: dict) -> dict:
    """{devices: {loss: medians in ms, the ratio to BCE and the speedup over 1 device}} of the
    children's results ({devices: measure(...)}), skipped counts left out."""
    summary = {}
    for devices, result in runs.items():
        if "skipped" in result:
            continue
        rows = {}
        for loss, run in result["losses"].items():
            step, host = 1e3 * statistics.median(run["step_s"]), 1e3 * statistics.median(run["host_s"])
            rows[loss] = {"step_ms": step, "host_ms": host, "device_ms": max(step - host, 0.0),
                          "first_step_s": run["first_step_s"]}
        for row in rows.values():
            row["to_bce"] = row["step_ms"] / rows["bce"]["step_ms"] if "bce" in rows else None
        summary[devices] = rows
    one = summary.get(1, {})
    for rows in summary.values():
        for loss, row in rows.items():
            row["speedup"] = one[loss]["step_ms"] / row["step_ms"] if loss in one else None
    return summary


def gpu_goal_line(summary: dict, backend: str) -> str:
    """The issue's goal, SATLoss step / BCE step on a GPU, with its verdict (on 1 device)."""
    row = summary.get(1, {}).get("sat")
    ratio = None if row is None else row["to_bce"]
    if ratio is None:
        return f"SATLoss step / BCE step: not measured (needs sat and bce on 1 device) (goal on a GPU: <= {GPU_GOAL}x)"
    verdict = ("met" if ratio <= GPU_GOAL else "NOT met") if backend == "gpu" else f"not measured (no GPU; {backend})"
    return f"SATLoss step / BCE step = {ratio:.2f}x on 1 device (goal on a GPU: <= {GPU_GOAL}x): {verdict}"


def ms(value: float) -> str:
    """Milliseconds with three significant digits or more: a GPU step can take a few."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def tables(summary: dict, runs: dict) -> str:
    """The step breakdown and the device scaling, as markdown tables; hung losses say so."""
    lines = ["| loss | objective | devices | step ms | device ms | host topology ms | host share | "
             "step / BCE step | first step s (compile) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    losses = []  # every loss in the order run, measured or hung somewhere
    for devices, result in runs.items():
        for loss, row in summary.get(devices, {}).items():
            to_bce = "-" if row["to_bce"] is None else f"{row['to_bce']:.2f}x"
            lines.append(f"| {loss} | {result['losses'][loss]['objective']} | {devices} | {ms(row['step_ms'])} | "
                         f"{ms(row['device_ms'])} | {ms(row['host_ms'])} | {row['host_ms'] / row['step_ms']:.1%} | "
                         f"{to_bce} | {row['first_step_s']:.1f} |")
        for loss, hung in result.get("hung", {}).items():
            lines.append(f"| {loss} | {hung['objective']} | {devices} | hung: no {hung['phase']} finished in "
                         f"{hung['after_s']:.0f} s | | | | | |")
        losses += [loss for loss in [*summary.get(devices, {}), *result.get("hung", {})] if loss not in losses]
    counts = list(runs)
    lines += ["", "| loss | " + " | ".join(f"{n} device{'s' if n > 1 else ''}" for n in counts) + " |",
              "|---|" + "---:|" * len(counts)]
    for loss in losses:
        cells = []
        for n in counts:
            row = summary.get(n, {}).get(loss)
            if row is not None:
                speedup = "" if row["speedup"] is None else f" ({row['speedup']:.2f}x)"
                cells.append(f"{ms(row['step_ms'])} ms{speedup}")
            elif loss in runs[n].get("hung", {}):
                cells.append("hung")
            else:
                cells.append(f"skipped: {runs[n].get('skipped', 'not run')}")
        lines.append(f"| {loss} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_child(devices: int, argv: list[str]) -> dict:
    """measure() in a child Python that sees ``devices`` CPU devices (forced; harmless where jax
    runs on a GPU or TPU, whose real devices it uses): its result, or {"hung": what} when its
    stall watch ended it. Its stderr (progress) passes through."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(devices), *argv],
                          env=dict(os.environ, XLA_FLAGS=flags), stdout=subprocess.PIPE, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("HUNG "):
            return {"hung": json.loads(line[len("HUNG "):])}
        if line.startswith("RESULTS ") and done.returncode == 0:
            return json.loads(line[len("RESULTS "):])
    raise SystemExit(f"the run on {devices} devices failed (exit status {done.returncode}); its error is above")


def time_devices(devices: int, losses: list[str], args, overrides: list[str]) -> dict:
    """One device count's result from its child, with the losses that hung under "hung": each hang
    ends the child, and the remaining losses are timed again in a new one."""
    losses, hung = list(losses), {}
    while True:
        argv = ["--losses", *losses, "--steps", str(args.steps), "--warmup", str(args.warmup),
                "--dataset", args.dataset, "--stall-timeout", str(args.stall_timeout), "--", *overrides]
        result = run_child(devices, argv)
        if "hung" not in result:
            return {**result, "hung": hung}
        loss = result["hung"]["loss"]
        hung[loss] = result["hung"]
        losses.remove(loss)
        print(f"  {loss} on {devices} devices: no {hung[loss]['phase']} finished in {args.stall_timeout:.0f} s "
              f"(hung); timing {', '.join(losses) or 'nothing'} again without it", file=sys.stderr, flush=True)
        if not losses:
            return {"skipped": "every loss hung", "hung": hung}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", nargs="+", default=["bce", "cldice", "sat", "bm"],
                        help="losses of the named configs <dataset>_<loss> to time; bce is the baseline of the ratios")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4],
                        help="device counts the batch is split over, each in its own process; 1 is the "
                             "baseline of the speedups")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per loss and device count; the tables "
                                                              "print their medians")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed steps first (the first compiles), on distinct batches that the timed "
                             "steps then cycle over")
    parser.add_argument("--dataset", default="synthetic",
                        help="dataset part of the named configs (synthetic, synthetic_roads, drive, ...)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="images per step (default: the config's, 8 for synthetic); must divide by each "
                             "device count")
    parser.add_argument("--size", type=int, default=None,
                        help="image side for the generated datasets (default: the config's, 96)")
    parser.add_argument("--stall-timeout", type=float, default=180.0,
                        help="seconds one step (the first compiles) may take before its loss counts as hung; "
                             "raise it for large models on a CPU")
    parser.add_argument("--json", default=None, help="also write the raw per-step times and the summary here")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)  # internal: one device count
    parser.add_argument("overrides", nargs="*", help="further config changes, field.path=value (as train.py takes)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be at least 1 (the first warm-up step compiles)")
    overrides = list(args.overrides)
    if args.child is not None:  # the overrides arrive resolved
        result = measure(args.dataset, args.losses, args.child, args.steps, args.warmup, overrides,
                         stall_timeout=args.stall_timeout)
        print("RESULTS " + json.dumps(result))
        return
    losses = args.losses if "bce" in args.losses else ["bce", *args.losses]  # the ratios' baseline
    if args.batch_size is not None:
        overrides.append(f"train.batch_size={args.batch_size}")
    if args.size is not None:
        overrides.append(f"data.size=({args.size}, {args.size})")

    start = time.perf_counter()
    runs = {}
    for devices in args.devices:
        print(f"timing on {devices} device{'s' if devices > 1 else ''} ...", file=sys.stderr, flush=True)
        runs[devices] = time_devices(devices, losses, args, overrides)
    wall = time.perf_counter() - start
    done = [r for r in runs.values() if "skipped" not in r]
    if not done:
        raise SystemExit("no device count could run: " + "; ".join(f"{n}: {r['skipped']}" for n, r in runs.items()))
    info, data = done[0]["machine"], done[0]["data"]
    summary = summarize(runs)
    hardware = (f"{info['device_kind']} devices forced on the host" if info["backend"] == "cpu"
                else f"{info['device_count']} x {info['device_kind']}")
    print(f"machine: {info['cpu']}, {info['cores']} cores; jax {info['jax']}, {info['backend']} backend "
          f"({hardware}); flax {info['flax']}, python {info['python']}")
    print(f"data: {data['dataset']}, images {'x'.join(map(str, data['image']))}, batch {data['batch']}, U-Net widths "
          f"{tuple(data['widths'])}; ms per step, medians of {args.steps} timed steps after {args.warmup} warm-up "
          f"steps (the first compiles), losses interleaved")
    for n, r in runs.items():
        if "skipped" in r:
            print(f"{n} devices: skipped ({r['skipped']})")
        elif r["retraced"]:
            print(f"WARNING: on {n} devices a step compiled again while timed; its times include compilation")
    print()
    print(tables(summary, runs))
    print()
    print(gpu_goal_line(summary, info["backend"]))
    if info["backend"] == "cpu" and len(done) > 1:
        print(f"(the CPU devices are forced and share {info['cores']} cores: their 'speedup' measures the cost "
              f"of splitting the batch, not parallel hardware)")
    print(f"command: python benchmarks/bench_train.py {' '.join(argv)}".rstrip())
    print(f"wall time: {wall:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": ["benchmarks/bench_train.py", *argv], "wall_s": wall, "runs": runs,
                       "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
