"""Command line: ``neurosim run``, ``neurosim validate``.

Every user error (bad config, missing data, a network that does not fit) is one
line on stderr and exit code 2; nothing already on disk is touched before all
inputs have been validated.

Start-up: a command imports what it uses when it runs. ``neurosim validate HW``
loads the hwconfig's models and the action table only (not the workload's models,
the chip model, numpy or the sweep machinery), and :func:`main` turns off pydantic's
plugin scan (``PYDANTIC_DISABLE_PLUGINS``, unless set: it reads the entry points of
every installed package when the first model is built; neurosim uses no plugin).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__
from .config.base import detect_kind, read_yaml, validate_mapping
from .errors import EXIT_DIVERGED, EXIT_USAGE, ConfigError, NeurosimError

__all__ = ["main", "cli"]


def _fail(message: str) -> None:
    for line in message.splitlines() or [""]:  # a config with several problems: one line each
        click.echo(f"neurosim: error: {line}", err=True)
    sys.exit(EXIT_USAGE)


def _parse_algorithms(value: str | None) -> list[str] | None:
    if value is None:
        return None
    from .config.workload import ALGORITHMS

    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALGORITHMS]
    if not names or unknown:
        _fail(f"--algorithms: expected a comma list of {', '.join(ALGORITHMS)}; got {value!r}")
    return names


class _Commands(click.Group):
    """The commands; ``sweep`` is loaded when it is named or listed (its module brings the sweep
    machinery's imports)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "sweep"})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "sweep" and name not in self.commands:
            from .sweep.cli import sweep_command

            self.add_command(sweep_command)
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="neurosim")
def cli() -> None:
    """Train networks with BP and the feedback-alignment family, and cost the
    training on a simulated tiled RRAM chip."""


# ---- report options of `neurosim run` (baseline, trace, help example) ----

RUN_EPILOG = (
    "\b\nExample (the main job: sparse DFA, costed against BP on the RRAM chip):\n"
    "  NEUROSIM_DATA_DIR=../shared/data/mnist-10k \\\n"
    "    neurosim run hwconfigs/rram_tile.yaml workloads/mnist_sdfa.yaml --epochs 2 --trace\n"
    "\b\nAlgorithms: {algorithms}.\n"
    "\b\nNEUROSIM_DATA_DIR: a folder with the four MNIST IDX files; without it the workload's\n"
    "dataset.data_dir, then ~/.cache/neurosim is used (downloaded once)."
)


class _RunCommand(click.Command):
    """``neurosim run``, whose epilog lists the algorithms when the help is shown (not at
    import: the other commands do not load the workload's models for it)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from .config.workload import ALGORITHMS

        self.epilog = RUN_EPILOG.format(algorithms=", ".join(ALGORITHMS))
        super().format_epilog(ctx, formatter)


def _report_options(f):
    """--baseline NAME / --no-baseline / --trace."""
    f = click.option("--trace", is_flag=True, help="Also write trace.json: one training step of each rule on the chip (open in ui.perfetto.dev).")(f)
    f = click.option("--no-baseline", is_flag=True, help="Cost only the workload's rules; no ratios.")(f)
    f = click.option("--baseline", default="bp", show_default=True, metavar="NAME",
                     help="Rule every other is compared against; costed on the chip even when not trained.")(f)
    return f


def _baseline(name: str, off: bool) -> str | None:
    if off:
        return None
    from .config.workload import ALGORITHMS

    if name not in ALGORITHMS:
        _fail(f"--baseline: expected one of {', '.join(ALGORITHMS)}; got {name!r}")
    return name


@cli.command(cls=_RunCommand)
@click.argument("hw_path", metavar="HW", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("wl_path", metavar="WL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Run directory (default reports/<workload>__<hw>/).")
@click.option("--epochs", type=click.IntRange(min=1), help="Override training.epochs.")
@click.option("--algorithms", "algorithms", metavar="A,B,...", help="Subset/extra rules, e.g. bp,dfa,sdfa.")
@click.option("--seed", type=click.IntRange(min=0), help="Override the workload seed.")
@click.option("--force", is_flag=True, help="Overwrite an existing run directory.")
@_report_options
def run(hw_path: Path, wl_path: Path, out_dir: Path | None, epochs: int | None, algorithms: str | None, seed: int | None, force: bool,
        baseline: str, no_baseline: bool, trace: bool) -> None:
    """Train every algorithm of WL and cost it on the chip HW; write the run directory."""
    from .api import prepare, run_and_write

    names = _parse_algorithms(algorithms)
    base = _baseline(baseline, no_baseline)
    try:
        job = prepare(hw_path, wl_path, out=out_dir, epochs=epochs, seed=seed, algorithms=names, force=force,
                      baseline=base, trace=trace)
        result = run_and_write(job, progress_bar=True)
    except NeurosimError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        click.echo("neurosim: interrupted; rules that finished are kept: rerun the same command to resume", err=True)
        sys.exit(130)
    click.echo(result.table)
    click.echo(f"\nwrote {job.out}/ ({', '.join(result.files)})")
    _exit_if_diverged(result.summary)


def _exit_if_diverged(summary: dict) -> None:
    """Exit EXIT_DIVERGED (3) when a rule diverged: its results are written, marked ``diverged``."""
    bad = {n: a["diverged"] for n, a in summary["algorithms"].items() if a.get("diverged")}
    if bad:
        where = "; ".join(f"{n} at epoch {d['epoch']}, step {d['step']}" for n, d in bad.items())
        click.echo(f"neurosim: diverged (non-finite loss): {where}; the other rules completed (exit {EXIT_DIVERGED})", err=True)
        sys.exit(EXIT_DIVERGED)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
def report(run_dir: Path) -> None:
    """Rebuild comparison.csv, the plots and report.html of RUN_DIR from its data files."""
    from .report import build

    try:
        names = build(run_dir)
    except NeurosimError as exc:
        _fail(str(exc))
    click.echo(f"wrote {run_dir}/ ({', '.join(names)})")


def _validate_one(path: Path):
    """(kind, model) of one config file; a sweep file is checked as a sweep spec."""
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", f"expected a YAML mapping at the top level, got {type(data).__name__}")
    kind = detect_kind(data)
    if kind == "hwconfig":
        from .config.hw import HwConfig
        from .hw.actions import check_energy_names

        hw = validate_mapping(HwConfig, data, str(path), lines)
        check_energy_names(hw, str(path))
        return kind, hw
    if kind == "workload":
        from .config.workload import Workload

        return kind, validate_mapping(Workload, data, str(path), lines)
    if kind == "sweep file":
        from .sweep.spec import SweepSpec

        return kind, SweepSpec.load(path)
    raise ConfigError(str(path), "", "cannot tell the kind: a hwconfig has a 'chip' section, a workload a 'network' "
                                     "section, a sweep file a 'grid' or 'points' section")


def _validate_pair(files: tuple[Path, ...], checked: list) -> None:
    """HW WL given together: run the same preflight as ``neurosim run`` (no data, no output folder)."""
    from .pipeline import preflight

    (hw_path, (_, hw)), (wl_path, (_, wl)) = checked
    preflight(hw, wl, list(wl.algorithms), None, hw_path=str(hw_path), wl_path=str(wl_path))
    click.echo(f"{hw_path} + {wl_path}: ok (the run's preflight passed: {', '.join(a.name for a in wl.algorithms)})")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check hwconfig, workload and sweep FILES without running anything.

    Given exactly one hwconfig and one workload (HW WL), also run the run's
    preflight on the pair: mapping, op graph, energy table, every rule.
    """
    failed = False
    checked = []
    for f in files:
        try:
            kind, model = _validate_one(f)
            checked.append((f, (kind, model)))
            click.echo(f"{f}: ok ({kind})")
        except NeurosimError as exc:
            for line in str(exc).splitlines():
                click.echo(f"neurosim: error: {line}", err=True)
            failed = True
    if not failed and [k for _, (k, _) in checked] == ["hwconfig", "workload"]:
        try:
            _validate_pair(files, checked)
        except NeurosimError as exc:
            _fail(str(exc))
    if failed:
        sys.exit(EXIT_USAGE)


def main() -> None:  # console-script entry point
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # see the module docstring
    cli(prog_name="neurosim")

