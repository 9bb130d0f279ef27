"""A point's record (its rows, one per algorithm) and results.csv built from them."""

from __future__ import annotations

import pandas as pd

from .. import __version__
from .columns import ID_COLUMN, METRIC_COLUMNS, TRAIN_COLUMNS, results_columns
from .plan import Plan, PlannedPoint
from .spec import format_value

__all__ = ["rows_ok", "is_done", "make_record", "failed_rows", "merge_rows", "results_frame"]


def rows_ok(rec: dict, algorithms: list[str]) -> bool:
    rows = {r["algorithm"]: r for r in rec.get("rows", [])}
    return all(rows[a]["status"] == "ok" for a in algorithms)


def is_done(rec: dict | None, plan: Plan, retry_failed: bool) -> bool:
    if not rec or rec.get("base_fingerprint") != plan.fingerprint:
        return False  # never computed, or computed from other base configs
    if not set(plan.algorithms) <= {r.get("algorithm") for r in rec.get("rows", [])}:
        return False
    return rows_ok(rec, plan.algorithms) or not retry_failed


def make_record(pp: PlannedPoint, plan: Plan, rows: list[dict]) -> dict:
    return {
        "point_id": pp.point.id,
        "params": pp.point.params,
        "base_fingerprint": plan.fingerprint,
        "neurosim_version": __version__,
        "status": "ok" if all(r["status"] == "ok" for r in rows) else "failed",
        "rows": rows,
    }


def failed_rows(algorithms: list[str], error: str) -> list[dict]:
    return [{"algorithm": a, "status": "failed", "error": error} for a in algorithms]


def merge_rows(pp: PlannedPoint, numerics: dict[str, dict], cost: dict[str, dict]) -> list[dict]:
    rows = []
    for name in pp.algos:
        n = numerics[pp.keys[name]]
        c = cost.get(name, {"error": "no cost computed"})
        errors = [x["error"] for x in (n, c) if "error" in x]
        row = {"algorithm": name, "status": "failed" if errors else "ok", "error": " | ".join(errors)}
        row.update({k: n[k] for k in TRAIN_COLUMNS if k in n})
        row.update({k: v for k, v in c.items() if k != "error"})
        rows.append(row)
    return rows


def results_frame(plan: Plan, records: dict[str, dict]) -> pd.DataFrame:
    """results.csv: the finished points of this sweep, in grid order, then algorithm order."""
    rows = []
    for pp in plan.points:
        rec = records.get(pp.point.id)
        if not rec or rec.get("base_fingerprint") != plan.fingerprint:
            continue
        by_alg = {r["algorithm"]: r for r in rec["rows"]}
        if not set(plan.algorithms) <= set(by_alg):
            continue
        params = {k: format_value(v) for k, v in pp.point.params.items()}
        for a in plan.algorithms:
            r = by_alg[a]
            rows.append({ID_COLUMN: pp.point.id, **params, **r, "error": r.get("error") or ""})
    cols = results_columns(plan.params)
    df = pd.DataFrame(rows, columns=cols)
    for c in METRIC_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df

