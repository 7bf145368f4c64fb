"""Sweeps: one `train_and_evaluate` run per config x seed x fold x grid point, then one table.

    runs = expand(["synthetic_bce", "synthetic_sat"], seeds=[0, 1, 2],
                  grid=[parse_grid("loss.weight=1e-4,1e-3,1e-2")])
    outcome = run_sweep(runs, "runs/sweep-lambda")          # trains what is not finished yet
    write_reports("runs/sweep-lambda", runs, command="...")  # results.md, results.csv, figure

Every run trains in its own folder under the sweep folder, named from the run's resolved config
(`run_name`: config name, grid values, seed, fold), so the same command finds its runs again: a
folder with results.json is finished and skipped, one without is resumed, and a folder whose
config.json differs from the run's config (other overrides, another --quick) is refused before
anything trains. Runs train one after another in the calling process.

A dimension of the sweep applies only to the configs that use it; the others run once per seed
without it (and show an empty cell): ``loss.weight`` is unused when the objective has no weighted
term (``loss.topological == "none"`` with a pixel loss other than ``dice_cldice``, whose alpha it
is), so BCE is a single baseline row in a lambda sweep; ``data.fold`` is unused by datasets
without folds (the generated ones, Roads, CREMI). Any other grid field applies to every config.

results.md is the SATLoss paper's Table 1 layout: one row per config and grid point, columns
Dice, clDice, beta_0 error, beta_1 error, Betti-matching error, accuracy (test split, each run's
best-validation model), mean +- sample standard deviation over the row's seeds and folds, and
n. When runs hold full-image metrics (datasets of several patches per image, the ``*_full`` keys
of results.json) it is the paper's Table 2 layout instead: accuracy, the patch (P) columns, then
the full-image (F) ones. results.csv has one row per run at full precision (the ``*_full`` columns
and ``full_images`` when some run has them); timings.json the wall time and machine of each run
as trained. This module needs only the standard library; JAX loads when a run trains.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import numbers
import os
import platform
import shlex
import statistics
import time
from dataclasses import dataclass, field

from jaxtopo.training.config import (
    Config,
    ConfigError,
    RunFolderError,
    TrainingDivergedError,
    check_run_folder,
    load_config,
    override,
    quick_config,
    read_run_config,
)

# results.json key -> column title in results.md, in the SATLoss paper's Table 1 order
TABLE_METRICS = {
    "dice": "Dice ↑",
    "cldice": "clDice ↑",
    "betti_0_error": "β0 error ↓",
    "betti_1_error": "β1 error ↓",
    "betti_matching_error": "Betti-matching error ↓",
    "accuracy": "accuracy ↑",
}
# the full-image (F) columns of the Table 2 layout, next to the patch (P) ones of TABLE_METRICS
# (accuracy, the same pixels whether patched or whole, appears once)
FULL_TABLE_METRICS = {
    "dice_full": "Dice (F) ↑",
    "cldice_full": "clDice (F) ↑",
    "betti_0_error_full": "β0 error (F) ↓",
    "betti_1_error_full": "β1 error (F) ↓",
    "betti_matching_error_full": "Betti-matching error (F) ↓",
}
# results.json keys copied into results.csv (the per-dimension Betti-matching errors too)
METRIC_KEYS = ("accuracy", "dice", "cldice", "betti_0_error", "betti_1_error", "betti_matching_error_0",
               "betti_matching_error_1", "betti_matching_error")
RESULT_KEYS = ("steps", "best_val_dice", *METRIC_KEYS)
# and, where a run has them, its full-image metrics (jaxtopo.evaluation.full_image_results)
FULL_KEYS = ("full_images", *(f"{key}_full" for key in METRIC_KEYS))
# results.csv columns other than the grid fields, which come between "fold" and "steps"
RUN_COLUMNS = ("run", "config", "seed", "fold")
CSV_TAIL = (*RESULT_KEYS, *FULL_KEYS, "wall_s")
TIMINGS = "timings.json"


# ---------------------------------------------------------------------------------------------
# tables (shared with experiments/evaluate.py)


def _columns(rows: list[dict]) -> list:
    """Every key of the rows, in the order they first appear."""
    return list(dict.fromkeys(key for row in rows for key in row))


def markdown_table(rows: list[dict], text_columns=()) -> str:
    """Rows of {column: value} as a markdown table, one column per key of any row: the
    ``text_columns`` left-aligned, the others right-aligned; a whole number outside
    ``text_columns`` is written as it is, any other number with 4 decimals, anything else as its
    text, None or a missing key as an empty cell."""
    columns = _columns(rows)

    def cell(column, value):
        if value is None:
            return ""
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and column not in text_columns:
            return f"{value:.4f}"
        return str(value).replace("|", "\\|")

    cells = [[cell(c, row.get(c)) for c in columns] for row in rows]
    # at least three dashes under every header, colon included, as most renderers want
    widths = [max(3 if c in text_columns else 4, len(c), *(len(r[i]) for r in cells))
              for i, c in enumerate(columns)]

    def line(values):
        return "| " + " | ".join(v.ljust(w) if c in text_columns else v.rjust(w)
                                 for c, v, w in zip(columns, values, widths)) + " |"

    separator = ["-" * w if c in text_columns else "-" * (w - 1) + ":" for c, w in zip(columns, widths)]
    return "\n".join([line(columns), line(separator)] + [line(r) for r in cells])


def write_csv(path: str, rows: list[dict], columns=None) -> None:
    """``rows`` as CSV with a header (``columns``, default every key of any row, in the order
    they first appear; a row without a column has an empty cell); floats keep full precision
    (Python writes the shortest text that reads back to the same float)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns or _columns(rows)))
        writer.writeheader()
        writer.writerows(rows)


def _read_value(text: str):
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path) -> list[dict]:
    """The rows of a results.csv, numbers read back as int or float and empty cells as None."""
    with open(os.fspath(path), newline="") as f:
        return [{key: _read_value(value) for key, value in row.items()} for row in csv.DictReader(f)]


# ---------------------------------------------------------------------------------------------
# the runs of a sweep


@dataclass(frozen=True)
class Run:
    """One run of a sweep: its folder name under the sweep folder and its resolved config."""

    name: str
    config: Config = field(compare=False, repr=False)
    config_name: str
    seed: int
    fold: int | None  # None: the dataset has no folds
    grid: tuple = ()  # ((field path, value), ...) applied to this run; unused fields left out


def parse_grid(spec: str) -> tuple:
    """``"loss.weight=1e-4,1e-3"`` -> ``("loss.weight", ["1e-4", "1e-3"])``. Values are split at
    the commas outside brackets and quotes, so ``model.widths=(8, 16),(16, 32)`` has two.

    A grid for some configs only starts with them: ``"sat,wt:loss.weight=1e-4,1e-3"`` ->
    ``("loss.weight", ["1e-4", "1e-3"], ("sat", "wt"))``; a name selects the config of that
    name and every ``<dataset>_<name>`` (`grid_applies`). One field may then have other values
    for other configs (TCLoss's weights are not SATLoss's)."""
    head, sep, text = spec.partition("=")
    only, colon, path = head.rpartition(":")
    path = path.strip()
    selected = tuple(name.strip() for name in only.split(",")) if colon else ()
    if not sep or not path or not text.strip() or (colon and not all(selected)):
        raise ConfigError(f"grid {spec!r} is not of the form [config,...:]field.path=value,value,...")
    values, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text + ","):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    if any(not v for v in values) or depth or quote:
        raise ConfigError(f"grid {spec!r}: empty or unbalanced value in {text!r}")
    if len(set(values)) != len(values):
        raise ConfigError(f"grid {spec!r} lists a value twice")
    return (path, values, selected) if selected else (path, values)


def grid_applies(entry: tuple, config_name: str) -> bool:
    """Whether a `parse_grid` entry is meant for the config named ``config_name`` (its config
    list, if it has one, names it or its loss: ``sat`` selects ``synthetic_sat``)."""
    selected = entry[2] if len(entry) > 2 else ()
    return not selected or any(config_name == name or config_name.endswith("_" + name) for name in selected)


def field_is_used(config: Config, path: str) -> bool:
    """False for a field the config's run would not read (see the module docstring); True
    otherwise, including every field this function knows nothing about."""
    if path == "loss.weight":
        return config.loss.topological != "none" or config.loss.pixel == "dice_cldice"
    if path == "data.fold":
        from jaxtopo.training.data import LOADERS

        return config.data.name in LOADERS and LOADERS[config.data.name][2]
    return True


def _get(config: Config, path: str):
    node = config
    for key in path.split("."):
        node = node[key]
    return node


def format_value(value) -> str:
    """A config value as it appears in run names and tables: floats as Python's shortest form
    (1e-05, 0.001), sequences joined by commas."""
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def _safe(text: str) -> str:
    # folder names: keep what reads well in a shell, replace the rest
    return "".join(c if c.isalnum() or c in "._,+-=" else "_" for c in text)


def run_name(run_config: Config, swept=()) -> str:
    """``<config>[-<field>=<value>...]-seed<seed>[-fold<fold>]``, from the resolved config, so the
    same run gets the same folder whichever way its values were spelt on the command line; the
    fold appears only for datasets with folds, a grid field only where it applies."""
    parts = [run_config.get("name", "config")]
    parts += [f"{path}={format_value(_get(run_config, path))}" for path in swept]
    parts.append(f"seed{run_config.seed}")
    if field_is_used(run_config, "data.fold"):
        parts.append(f"fold{run_config.data.fold}")
    return _safe("-".join(parts))


def expand(configs, *, seeds=(0,), folds=None, grid=(), overrides=(), quick=False,
           data_dir=None) -> list[Run]:
    """Every run of configs x grid points x seeds x folds, in that nesting order.

    ``configs``: names or .py files (`load_config`); ``grid``: ``[(field path, [value text, ...])]``
    (`parse_grid`), the product of all fields; ``overrides``: ``"a.b=value"`` for every run, applied
    before the grid (as train.py applies them after ``--quick``); ``folds``: None keeps each config's
    own ``data.fold``. Raises `ConfigError` for a mistake (unknown config or field, a field both
    swept and overridden, two runs with one folder name)."""
    grid = list(grid)
    swept = list(dict.fromkeys(entry[0] for entry in grid))
    fixed = {a.partition("=")[0].strip() for a in overrides}
    for path in ("seed", *(["data.fold"] if folds else []), *swept):
        if path in fixed:
            raise ConfigError(f"{path} is both swept and overridden ({path}=...); give it one way")
    for path, flag in (("seed", "--seeds"), ("data.fold", "--folds")):
        if path in swept:
            raise ConfigError(f"sweep {path} with {flag}, not with a grid")
    for values, flag in ((seeds, "--seeds"), (folds or (), "--folds")):
        if len(set(values)) != len(values):
            raise ConfigError(f"{flag} lists a value twice: {list(values)}")
    runs, matched = [], set()
    for name in configs:
        base = load_config(name)
        if quick:
            base = quick_config(base)
        base = override(base, overrides)
        if data_dir:
            base.data.data_dir = data_dir
        name_of = base.get("name", os.path.splitext(os.path.basename(name))[0])
        matched.update(i for i, entry in enumerate(grid) if grid_applies(entry, name_of))
        entries = [entry for entry in grid if grid_applies(entry, name_of) and field_is_used(base, entry[0])]
        applies = [entry[0] for entry in entries]
        if len(set(applies)) != len(applies):
            raise ConfigError(f"a grid field is given twice for {name_of}: {applies}")
        points = itertools.product(*[[(entry[0], v) for v in entry[1]] for entry in entries])
        for point in points:
            swept_config = override(base, [f"{path}={v}" for path, v in point])
            for seed in seeds:
                seed_config = override(swept_config, [f"seed={seed}"])
                has_folds = field_is_used(seed_config, "data.fold")
                for fold in (folds if folds and has_folds else [None]):
                    run_config = override(seed_config, [f"data.fold={fold}"]) if fold is not None else seed_config
                    runs.append(Run(
                        name=run_name(run_config, applies), config=run_config,
                        config_name=run_config.get("name", name), seed=run_config.seed,
                        fold=run_config.data.fold if has_folds else None,
                        grid=tuple((path, _get(run_config, path)) for path in applies)))
    for i, entry in enumerate(grid):
        if i not in matched:
            raise ConfigError(f"the grid of {entry[0]} for {','.join(entry[2])} selects none of the configs "
                              f"({', '.join(configs)})")
    seen = {}
    for run in runs:
        if run.name in seen:
            raise ConfigError(f"two runs of this sweep would share the folder {run.name!r} "
                              f"({seen[run.name]} and {run}); give the configs different names")
        seen[run.name] = run
    return runs


def default_out(configs, *, quick=False, overrides=()) -> str:
    """runs/sweep-<configs>[-quick][-<hash of the overrides>]: the same command finds the same
    folder; more seeds or grid values land in it too, runs that are there already are reused."""
    import hashlib

    stem = "+".join(os.path.splitext(os.path.basename(c))[0] for c in configs)
    if len(stem) > 60:
        stem = f"{stem[:40]}+{len(configs)}-configs-{hashlib.sha1(stem.encode()).hexdigest()[:6]}"
    if quick:
        stem += "-quick"
    if overrides:
        stem += "-" + hashlib.sha1("\n".join(overrides).encode()).hexdigest()[:8]
    return os.path.join("runs", _safe(f"sweep-{stem}"))


# ---------------------------------------------------------------------------------------------
# running


def run_status(workdir: str, config: Config) -> str:
    """"done" (results.json of this config), "resume" (a run folder of this config, unfinished
    or to be trained longer: train.epochs grew) or "new". A folder holding another config raises
    `ConfigError` naming the differing fields."""
    try:
        check_run_folder(workdir, config)
    except ConfigError as error:
        raise ConfigError(f"{error} (sweep.py: sweep into another --out)") from None
    if not os.path.isfile(os.path.join(workdir, "config.json")):
        return "new"
    finished = os.path.isfile(os.path.join(workdir, "results.json"))
    if finished and read_run_config(workdir).train.epochs == config.train.epochs:
        return "done"
    return "resume"


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def describe_machine() -> str:
    """CPU model and count, OS, Python, JAX version, backend and devices (JAX is imported)."""
    import jax

    cpu = cpu_model()
    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    return (f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}; "
            f"Python {platform.python_version()}, jax {jax.__version__} on {jax.default_backend()} "
            f"({len(devices)} x {', '.join(kinds)})")


def _read_json(path: str, default):
    if not os.path.isfile(path):
        return default
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path} is not readable JSON: {error}; delete it to start over") from None


def _write_json(path: str, value) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=2)
    os.replace(path + ".tmp", path)  # a kill mid-write leaves the old file


@dataclass
class SweepOutcome:
    statuses: dict  # run name -> "done" | "resume" | "new", before this call trained
    trained: list  # names of the runs trained (or resumed) by this call
    failed: dict  # run name -> message, for runs whose training diverged
    wall_s: float  # this call's wall time


def run_sweep(runs: list[Run], out: str, *, dry_run: bool = False, log=print) -> SweepOutcome:
    """Trains, one after another in this process, every run of ``runs`` that has not finished in
    ``out``/<run name>; resumes the half-finished ones. Every folder is checked before the first
    run trains. A run whose loss diverges is reported in ``failed`` and the sweep goes on; any
    other error stops it (finished runs stay finished: the next call goes on from there).
    ``out``/timings.json gets each trained run's wall time (added up over resumptions) and machine."""
    start = time.perf_counter()
    statuses = {run.name: run_status(os.path.join(out, run.name), run.config) for run in runs}
    pending = [run for run in runs if statuses[run.name] != "done"]
    counts = {s: sum(v == s for v in statuses.values()) for s in ("done", "resume", "new")}
    log(f"{len(runs)} runs in {out}: {counts['done']} finished, {counts['resume']} to resume, "
        f"{counts['new']} to train; one after another in this process")
    if dry_run:
        for run in runs:
            log(f"  {statuses[run.name]:<6}  {run.name}")
        return SweepOutcome(statuses, [], {}, time.perf_counter() - start)
    trained, failed = [], {}
    if pending:
        from jaxtopo.training import loop

        for run in pending:  # wrong field values surface now, not after hours of other runs
            loop._check_config(run.config)
        os.makedirs(out, exist_ok=True)
        machine = describe_machine()
        log(f"machine: {machine}")
    for index, run in enumerate(pending, 1):
        workdir = os.path.join(out, run.name)
        log(f"[{index}/{len(pending)}] {run.name}: {'resuming' if statuses[run.name] == 'resume' else 'training'}")
        run_start = time.perf_counter()
        try:
            results = loop.train_and_evaluate(run.config, workdir)
        except TrainingDivergedError as error:
            failed[run.name] = str(error)
            log(f"[{index}/{len(pending)}] {run.name}: diverged after {time.perf_counter() - run_start:.1f} s, "
                f"going on with the next run: {error}")
            continue
        finally:
            # the time is kept even for a run that failed or was interrupted: it resumes later
            wall = time.perf_counter() - run_start
            timings = _read_json(os.path.join(out, TIMINGS), {})
            previous = timings.get(run.name, {}).get("wall_s", 0.0) if statuses[run.name] == "resume" else 0.0
            timings[run.name] = {"wall_s": previous + wall, "machine": machine}
            _write_json(os.path.join(out, TIMINGS), timings)
        trained.append(run.name)
        summary = ", ".join(f"{key} {results[key]:.4f}" for key in TABLE_METRICS if key in results)
        log(f"[{index}/{len(pending)}] {run.name}: done in {wall:.1f} s; {summary}")
    return SweepOutcome(statuses, trained, failed, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# aggregation and reports


def collect_rows(runs: list[Run], out: str) -> list[dict]:
    """One row per finished run (results.csv): run, config, seed, fold, the grid fields (None
    where a field does not apply), the results.json values and the recorded wall time."""
    fields = grid_fields(runs)
    timings = _read_json(os.path.join(out, TIMINGS), {})
    rows = []
    for run in runs:
        results = _read_json(os.path.join(out, run.name, "results.json"), None)
        if results is None:
            continue
        if not isinstance(results, dict):
            raise RunFolderError(f"{os.path.join(out, run.name, 'results.json')} holds no results")
        applied = dict(run.grid)
        rows.append({"run": run.name, "config": run.config_name, "seed": run.seed, "fold": run.fold,
                     **{path: applied.get(path) for path in fields},
                     **{key: results.get(key) for key in RESULT_KEYS},
                     **{key: results[key] for key in FULL_KEYS if key in results},
                     "wall_s": timings.get(run.name, {}).get("wall_s")})
    return rows


def grid_fields(runs_or_rows) -> list[str]:
    """The swept fields, in grid order: of `Run`s, or the grid columns of results.csv rows."""
    fields = []
    for item in runs_or_rows:
        names = [path for path, _ in item.grid] if isinstance(item, Run) else [
            key for key in item if key not in RUN_COLUMNS and key not in CSV_TAIL]
        fields += [path for path in names if path not in fields]
    return fields


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def has_full_image_metrics(rows: list[dict]) -> bool:
    """Whether any row holds full-image (F) metrics."""
    return any(row.get(key) is not None for row in rows for key in FULL_TABLE_METRICS)


def aggregate(rows: list[dict], metrics=(*TABLE_METRICS, *FULL_TABLE_METRICS)) -> list[dict]:
    """One entry per config and grid point (in the rows' order): the grid values, ``n`` (runs),
    and per metric ``(mean, standard deviation, count)`` over the finite values; the standard
    deviation is the sample one (n - 1 in the denominator), None for a single value."""
    fields = grid_fields(rows)
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        # a sequence value (model.widths) as a tuple: the key must be hashable
        key = (row["config"], *(tuple(v) if isinstance(v := row.get(path), list) else v for path in fields))
        groups.setdefault(key, []).append(row)
    table = []
    for key, members in groups.items():
        entry = {"config": key[0], **dict(zip(fields, key[1:])), "n": len(members)}
        for metric in metrics:
            values = [row[metric] for row in members if _finite(row.get(metric))]
            entry[metric] = (statistics.fmean(values) if values else None,
                             statistics.stdev(values) if len(values) > 1 else None, len(values))
        table.append(entry)
    return table


def _mean_std(mean, std, count, n) -> str:
    if mean is None:
        return "n/a"
    text = f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"
    return text if count == n else f"{text} ({count} finite)"


def _table_columns(rows: list[dict]) -> dict:
    """{results key: column title}: Table 1's six metrics, or where some run has full-image
    metrics Table 2's layout: accuracy, the patch (P) columns, then the full-image (F) ones."""
    if not has_full_image_metrics(rows):
        return TABLE_METRICS
    patch = {key: title.replace(" ↑", " (P) ↑").replace(" ↓", " (P) ↓")
             for key, title in TABLE_METRICS.items() if key != "accuracy"}
    return {"accuracy": TABLE_METRICS["accuracy"], **patch, **FULL_TABLE_METRICS}


def results_table(rows: list[dict]) -> str:
    """The markdown table of `aggregate`: config, grid fields, the metrics as mean ± std
    (`_table_columns`: six, or eleven with full-image ones), n."""
    fields = grid_fields(rows)
    columns = _table_columns(rows)
    lines = []
    for entry in aggregate(rows):
        line = {"config": entry["config"]}
        line.update({path: "" if entry[path] is None else format_value(entry[path]) for path in fields})
        line.update({title: _mean_std(*entry[key], entry["n"]) for key, title in columns.items()})
        line["n"] = str(entry["n"])
        lines.append(line)
    return markdown_table(lines, text_columns=("config", *fields))


def _sweep_description(runs: list[Run]) -> str:
    def listed(values):
        return ", ".join(dict.fromkeys(str(v) for v in values)) or "-"

    parts = [f"configs: {listed(run.config_name for run in runs)}", f"seeds: {listed(run.seed for run in runs)}",
             f"folds: {listed(run.fold for run in runs if run.fold is not None)}"]
    for path in grid_fields(runs):
        values = [format_value(v) for run in runs for p, v in run.grid if p == path]
        skipped = listed(run.config_name for run in runs if path not in dict(run.grid))
        unused = f" (not swept for {skipped}, which run once)" if skipped != "-" else ""
        parts.append(f"{path}: {listed(values)}{unused}")
    return "; ".join(parts)


def results_markdown(runs: list[Run], rows: list[dict], *, command: str, timings: dict) -> str:
    """results.md: what was run, on what, how long, then the table (mean ± std per config and
    grid point) and the runs that have not finished."""
    finished = {row["run"] for row in rows}
    missing = [run.name for run in runs if run.name not in finished]
    machines = list(dict.fromkeys(timings[r]["machine"] for r in finished if r in timings))
    untimed = sum(r not in timings for r in finished)
    wall = sum(timings[r]["wall_s"] for r in finished if r in timings)
    lines = [
        "# Sweep results",
        "",
        f"- command: `{command}`",
        f"- {_sweep_description(runs)}",
        f"- runs: {len(finished)} of {len(runs)} finished, trained one after another in one process",
        f"- wall time: {wall:.1f} s, the sum over the finished runs of training and test evaluation"
        + (f" ({untimed} runs trained outside this sweep not counted)" if untimed else ""),
        *(f"- machine: {m}" for m in machines or ["not recorded (no run was trained by this sweep)"]),
        "",
        "Test split, each run's best-validation model. Mean ± sample standard deviation over the "
        "row's n runs (seeds x folds); β0 / β1 error: mean absolute difference of Betti numbers per "
        "image; Betti-matching error: unmatched persistence pairs, dimensions 0 + 1. Every run at "
        "full precision: results.csv.",
        "",
    ]
    if has_full_image_metrics(rows):
        lines += ["(P): per test patch, averaged; (F): per full image, the test patches' predictions "
                  "and labels stitched back into the whole (cropped or padded) images, as in the "
                  "SATLoss paper's Tables 2-3; n/a for runs without them (images of one patch: F = P).",
                  ""]
    lines.append(results_table(rows) if rows else "(no run has finished yet)")
    if missing:
        lines += ["", f"Not finished ({len(missing)}): " + ", ".join(missing)]
    return "\n".join(lines) + "\n"


def write_reports(out: str, runs: list[Run], *, command: str,
                  ablation_runs: list[Run] | None = None) -> list[str]:
    """Writes results.md and results.csv (and lambda_ablation.png when loss.weight is swept over
    at least two values) into ``out``; returns their paths. Only files, no training. The figure
    draws ``ablation_runs`` where given (a selected sweep's whole first-seed grid), else ``runs``."""
    rows = collect_rows(runs, out)
    timings = _read_json(os.path.join(out, TIMINGS), {})
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, "results.md")]
    with open(paths[0], "w") as f:
        f.write(results_markdown(runs, rows, command=command, timings=timings))
    if rows:
        paths.append(os.path.join(out, "results.csv"))
        full = FULL_KEYS if any("full_images" in row for row in rows) else ()
        write_csv(paths[-1], rows, columns=[*RUN_COLUMNS, *grid_fields(runs), *RESULT_KEYS, *full, "wall_s"])
    figure_rows = rows if ablation_runs is None else collect_rows(ablation_runs, out)
    if len({v for row in figure_rows if (v := row.get("loss.weight")) is not None}) >= 2:
        from jaxtopo.viz.ablation import save_lambda_ablation

        paths.append(os.path.join(out, "lambda_ablation.png"))
        save_lambda_ablation(paths[-1], figure_rows)
    return paths


def command_line(script: str, argv) -> str:
    """The command as one could type it again."""
    return shlex.join(["python", script, *argv])
