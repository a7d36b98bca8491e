"""`analyze --out DIR`: analysis.json (the record), ranking.csv and report.html, all from the record."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable

from ..errors import UsageError, param
from .safe import write_csv


def ranking_csv(rows: list[dict[str, Any]]) -> str:
    """Candidate names come from users' files: every text cell goes through safe.csv_cell (CSV injection)."""
    buf = io.StringIO()
    write_csv(buf, ["rank", "model", "role", "top1_accuracy_pct", "co2e_g_per_item", "energy_j_per_item", "latency_s", "pareto",
                    "dominated_by", "excluded"],
              ([r["rank"] or "", r["name"], r["role"], "" if r["accuracy"] is None else r["accuracy"], r["co2e_g_per_item"],
                r["energy_j_per_item"], r["latency_s"], r["pareto"], ";".join(r["dominated_by"]), r["excluded"]] for r in rows))
    return buf.getvalue()


def write_outputs(out: Path, record: dict[str, Any], flag_of: Callable[[str], str] | None = None) -> None:
    """Write the three files; the JSON first (complete and valid), so a failure later leaves a readable record.
    Each is written atomically (files.write_atomic): a failed write leaves the file that was there whole.
    `flag_of` names the parameters of what would flip the verdict as the caller's options."""
    from ..files import write_atomic
    from .html import render_html

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{param('out')} {out}: cannot write ({e.strerror})") from None
    for name, text in (("analysis.json", lambda: json.dumps(record, indent=2, allow_nan=False) + "\n"),
                       ("ranking.csv", lambda: ranking_csv(record["ranking"])),
                       ("report.html", lambda: render_html(record, flag_of=flag_of))):
        write_atomic(out / name, text(), UsageError, f"{param('out')} {out / name}")
