"""``neurosim sweep``: the click command (registered in :mod:`neurosim.cli`)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

__all__ = ["sweep_command"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _fail(message: str) -> None:
    click.echo(f"neurosim: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _on_sigterm(signum, frame):  # a batch system's kill: stop like Ctrl-C, keep what is done
    raise KeyboardInterrupt


@click.command("sweep")
@click.argument("hw_path", metavar="[HW WL]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.argument("wl_path", metavar="", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--file", "sweep_file", type=click.Path(dir_okay=False, path_type=Path), help="Sweep YAML file (hw, workload, grid, points, ...).")
@click.option("--set", "sets", multiple=True, metavar="KEY=V1,V2,...", help="Sweep a field, e.g. crossbar.rows=64,128 (repeatable; grid = product).")
@click.option("--algorithms", metavar="A,B,...", help="Entries to run by rule name or label (default: the workload's), e.g. bp,dfa,sdfa_transfer.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Sweep folder (default reports/sweep__<workload>__<hw>/); rerun to resume.")
@click.option("--executor", type=click.Choice(["local", "dask", "serial"]), help="local process pool (default), dask, or serial (this process).")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Use the Dask cluster at this scheduler (implies --executor dask).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: the usable cores).")
@click.option("--epochs", type=click.IntRange(min=1), help="Override training.epochs of the base workload.")
@click.option("--retry-failed", is_flag=True, help="Recompute points recorded as failed.")
@click.option("--force", is_flag=True, help="Replace another sweep found in the folder (its points are removed).")
def sweep_command(hw_path, wl_path, sweep_file, sets, algorithms, out_dir, executor, scheduler, workers, epochs, retry_failed, force) -> None:
    """Cost the chip HW (and workload WL) at every point of a grid of settings.

    \b
    neurosim sweep HW WL --set crossbar.rows=64,128,256 --set noc.mesh=4x4,8x8
    neurosim sweep --file sweep.yaml

    Each algorithm is trained once per distinct workload and reused at every
    chip point. Results go to DIR/results.csv, DIR/sweep_*.png and
    DIR/sweep.html; rerunning the same command resumes where it stopped.
    """
    from ..errors import NeurosimError
    from .spec import SweepSpec, parse_sets

    names = None
    if algorithms is not None:
        names = [n.strip() for n in algorithms.split(",") if n.strip()]
        if not names:  # each name is checked against the rules and the workload's labels by the spec
            from ..config.workload import ALGORITHMS

            _fail(f"--algorithms: expected a comma list of {', '.join(ALGORITHMS)} or the workload's labels; got {algorithms!r}")
    if wl_path is None and hw_path is not None and sweep_file is None:
        _fail("expected two paths, HW and WL (or --file SWEEP.yaml)")
    try:
        if sweep_file is not None:
            grid = parse_sets(sets)
            spec = SweepSpec.load(
                sweep_file, hw=hw_path, workload=wl_path, grid=grid, algorithms=names, out=out_dir,
                executor=executor, scheduler=scheduler, workers=workers, epochs=epochs, retry_failed=retry_failed or None,
                force=force or None,
            )
        else:
            if hw_path is None:
                _fail("expected HW and WL paths, or --file SWEEP.yaml")
            spec = SweepSpec.from_cli(
                hw_path, wl_path, sets, algorithms=names, out=out_dir, executor=executor or "local",
                scheduler=scheduler, workers=workers, epochs=epochs, retry_failed=retry_failed, force=force,
            )
        from .runner import run_sweep  # the heavy imports (training, simulator) only now

        old = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            df = run_sweep(spec, progress=True)
        finally:
            signal.signal(signal.SIGTERM, old)
    except NeurosimError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        click.echo("neurosim: interrupted; every finished point is on disk (rerun the same command to resume)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    from .store import HTML, RESULTS

    out = df.attrs.get("sweep_dir", spec.out)
    n = df["point_id"].nunique()
    failed = df.loc[df["status"] != "ok", "point_id"].nunique()
    k = df["algorithm"].nunique()
    click.echo(f"{n} point{'s' * (n != 1)} x {k} algorithm{'s' * (k != 1)}: {n - failed} ok, {failed} failed")
    if failed:
        first = df.loc[df["status"] != "ok", "error"].iloc[0]
        click.echo(f"first failure: {first}")
    click.echo(f"wrote {out}/ ({RESULTS}, {HTML}, plots)")

