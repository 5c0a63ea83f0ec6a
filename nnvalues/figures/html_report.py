"""One self-contained HTML page of a results store: the evidence tables, every figure the
stores allow (PNG embedded as base64), the evidence CSV as an embedded download, and the
provenance of the results store, its models, its cube and every neuron set it used."""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from nnvalues.errors import NnvaluesError
from nnvalues.figures.output import Figure, Skip, Table, render
from nnvalues.figures.sources import Sources
from nnvalues.version import __version__

STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f2f2f2}figure{margin:1.5em 0}img{max-width:100%}figcaption{font-size:.8em;color:#555}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}.skipped{color:#777;font-size:.85em}"""


def _markdown_tables(text: str) -> str:
    """The report's Markdown ("### title" and pipe tables) as HTML."""
    out, rows = [], []

    def flush() -> None:
        if rows:
            head, *body = rows
            out.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                                 for r in body) + "</table>")
            rows.clear()
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                rows.append(cells)
            continue
        flush()
        if line.startswith("### "):
            out.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "\n".join(out)


def _figure(item: Figure) -> str:
    data = base64.b64encode(render(item, "png")).decode("ascii")
    import matplotlib.pyplot as plt

    plt.close(item.figure)
    return (f'<figure><img alt="{html.escape(item.name)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(item.caption)}</figcaption></figure>")


def _table(item: Table) -> str:
    return (f"<h3>{html.escape(item.title)}</h3><p class=skipped>{html.escape(item.caption)}</p>"
            + item.frame.to_html(index=False, border=0, na_rep="-"))


def _json(data: Any) -> str:
    return f"<pre>{html.escape(json.dumps(data, indent=1, default=str))}</pre>"


def builders(sources: Sources) -> list[tuple[str, Callable[[], list]]]:
    """Every figure and table the page tries, in reading order."""
    from nnvalues.figures import effect_figures as effects
    from nnvalues.figures import neuron_figures as neurons
    from nnvalues.figures.pvq_profile import profile_figure

    return [("Tables 1 and 4", lambda: effects.edit_tables(sources)),
            ("Gamma sweep", lambda: [effects.sweep_figure(sources, "gamma")]),
            ("Neuron-count sweep", lambda: [effects.sweep_figure(sources, "neurons")]),
            ("Threshold sweep", lambda: [effects.tradeoff_figure(sources)]),
            ("Specificity", lambda: [effects.specificity_figure(sources)]),
            ("PVQ40 profile", lambda: [profile_figure(sources)]),
            ("Layer distribution", lambda: neurons.layer_figure(sources)[:1]),
            ("Chance level", lambda: neurons.chance_figure(sources)),
            ("Overlap", lambda: neurons.overlap_figure(sources)[:1])]


def provenance(sources: Sources) -> str:
    from nnvalues.select.neuron_set import list_sets, load_set

    store = sources.results_store()
    parts = ["<h3>Results store</h3>", _json({"path": str(store.path), "settings": store.settings,
                                               "info": store.info})]
    for key in store.models():
        parts += [f"<h3>Model {html.escape(key)}</h3>", _json(store.model_provenance(key))]
    sets = [load_set(store.path, name).provenance() for name in list_sets(store.path)]
    if sets:
        frame = pd.DataFrame(sets)
        frame["parameters"] = frame["parameters"].map(lambda p: json.dumps(p, sort_keys=True))
        frame["cube_fingerprint"] = frame["cube_fingerprint"].str[:16]
        parts += [f"<h3>Neuron sets ({len(sets)})</h3>", frame.to_html(index=False, border=0)]
    try:
        cube = sources.open_cube()
        labels = ["model_revision", "counting", "data_fingerprint", "created", "package_version", "seed"]
        rows = [{"dimension": str(d), "pairs": int(cube["pairs"].sel(dimension=d)),
                 **{n: str(cube[n].sel(dimension=d).values) for n in labels
                    if n in cube.coords and "dimension" in cube[n].dims}}
                for d in cube["dimension"].values]
        parts += [f"<h3>Activation cube {html.escape(str(sources.cube))}</h3>",
                  pd.DataFrame(rows).to_html(index=False, border=0)]
    except NnvaluesError as reason:
        parts.append(f"<p class=skipped>cube: {html.escape(str(reason))}</p>")
    return "\n".join(parts)


def html_report(results: Path, evidence: pd.DataFrame, tables_markdown: list[str],
                cube: Path | None = None) -> str:
    """The page. `evidence` and `tables_markdown` are what `nnvalues report` computed."""
    from nnvalues.evaluate.store import ResultsStore

    held_cube = ResultsStore.open(results).info.get("cube")
    sources = Sources(cube=cube or (Path(held_cube) if held_cube else None), results=Path(results))
    sources._cache["evidence"] = evidence
    body, skipped = [], []
    for title, build in builders(sources):
        try:
            made = build()
        except (Skip, NnvaluesError) as reason:
            skipped.append(f"<li>{html.escape(title)}: {html.escape(str(reason))}</li>")
            continue
        body += [_figure(m) if isinstance(m, Figure) else _table(m) for m in made]
    csv = base64.b64encode(evidence.to_csv(index=False).encode()).decode("ascii")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return "\n".join([
        "<!DOCTYPE html>", "<html lang=en><head><meta charset=utf-8>",
        f"<title>nnvalues report: {html.escape(str(results))}</title><style>{STYLE}</style></head><body>",
        f"<h1>nnvalues report: {html.escape(str(results))}</h1>",
        f"<p>Made {created} by nnvalues {__version__}. "
        f'<a download="evidence.csv" href="data:text/csv;base64,{csv}">Evidence table (CSV, '
        f"{len(evidence)} rows)</a></p>",
        "<h2>Figures</h2>", *body,
        *(["<p class=skipped>Not in these stores:</p><ul class=skipped>", *skipped, "</ul>"] if skipped else []),
        "<h2>Evidence tables</h2>", *(_markdown_tables(t) for t in tables_markdown),
        "<h2>Provenance</h2>", provenance(sources), "</body></html>"])
