"""The page: CSS, navigation, figures embedded as JSON, and plotly.js inlined once (the file opens offline)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go

from itero.report._format import esc

CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #e3e6ec; --bg: #f5f6f8; --card: #fff; --accent: #2b6cb0;
        --warn-bg: #fff4e5; --warn: #9a4b00; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); background: var(--bg); }
nav { position: sticky; top: 0; z-index: 10; background: #1d2330; padding: 0 16px; }
nav .inner { max-width: 1240px; margin: 0 auto; display: flex; flex-wrap: wrap; gap: 2px 18px; }
nav a { color: #cfd6e4; text-decoration: none; font-size: 14px; padding: 9px 0; }
nav a:hover { color: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 16px 48px; }
header h1 { font-size: 26px; margin: 18px 0 2px; word-break: break-word; }
header .sub { color: var(--muted); font-size: 13px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 20px 18px;
          margin: 18px 0; scroll-margin-top: 48px; }
section h2 { font-size: 19px; margin: 4px 0 10px; }
section h3 { font-size: 15px; margin: 18px 0 6px; }
p.note { color: var(--muted); margin: 6px 0; }
p.empty { color: var(--muted); background: var(--bg); border: 1px dashed var(--line); border-radius: 8px;
          padding: 18px; text-align: center; }
.warning { background: var(--warn-bg); color: var(--warn); border: 1px solid #f5c28b; border-radius: 8px;
           padding: 10px 14px; margin: 12px 0; }
.warning.bad { background: #fdecea; color: var(--bad); border-color: #f4b4ad; }
.warning strong { display: block; margin-bottom: 2px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; background: #fbfcfd; min-width: 0; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 18px; font-weight: 600; overflow-wrap: anywhere; }
.card .d { color: var(--muted); font-size: 12.5px; overflow-wrap: anywhere; }
.card.wide { grid-column: span 2; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; margin: 1px 2px 1px 0; font-size: 12.5px;
         font-weight: 600; color: #fff; background: #777; }
.COMPLETE { background: #1f77b4; } .PRUNED { background: #8792a2; } .PAUSED { background: #9467bd; }
.RUNNING { background: #2ca02c; } .WAITING { background: #a5a61c; } .FAILED { background: #d62728; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 12px; }
.plot { width: 100%; }
.scroll { overflow-x: auto; max-height: 640px; overflow-y: auto; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { padding: 4px 10px; text-align: left; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f0f2f5; position: sticky; top: 0; font-weight: 600; white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafbfc; }
table.kv { width: auto; } table.kv th { background: none; position: static; color: var(--muted); font-weight: 500; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
details { margin: 8px 0; } summary { cursor: pointer; color: var(--accent); }
.pkgs { columns: 4 220px; font-size: 12.5px; margin: 6px 0; }
.pkgs div { break-inside: avoid; }
.err { color: var(--bad); }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 24px; }
"""

BOOT = """
(function () {
  var config = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"]};
  document.querySelectorAll("div.plot[data-figure]").forEach(function (div) {
    var spec = JSON.parse(document.getElementById(div.id + "-data").textContent);
    Plotly.newPlot(div, spec.data, spec.layout, config);
  });
})();
"""


def safe_json(text: str) -> str:
    """JSON that cannot close the ``<script>`` holding it (plotly already escapes ``<``, ``>`` and ``/``; this
    makes sure of it, whatever the encoder)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass
class Figures:
    """The figures of a page: each a ``<div class="plot">`` with a stable id, its JSON in a script tag."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, fig_id: str, result: go.Figure | str) -> str:
        """The HTML of figure ``fig_id``, or a note saying why there is none (``result`` is then the reason)."""
        if isinstance(result, str):
            return f'<p class="empty" id="{fig_id}-none">{esc(result)}</p>'
        self.items.append((fig_id, safe_json(result.to_json(validate=False))))
        title = html.unescape(result.layout.title.text or fig_id)
        return f'<div class="plot" id="{fig_id}" data-figure="{esc(fig_id)}" aria-label="{esc(title)}"></div>'

    @property
    def ids(self) -> list[str]:
        return [fig_id for fig_id, _ in self.items]

    def scripts(self) -> str:
        return "\n".join(
            f'<script type="application/json" id="{fig_id}-data">{data}</script>' for fig_id, data in self.items
        )


def page(title: str, nav: Sequence[tuple[str, str]], body: str, figures: Figures, plotlyjs: str) -> str:
    """The whole HTML document; ``nav`` is ``[(section id, label)]``."""
    links = "".join(f'<a href="#{sid}">{esc(text)}</a>' for sid, text in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f'<body><nav><div class="inner">{links}</div></nav>\n<main>\n{body}\n</main>\n'
        f"{figures.scripts()}\n"
        f'<script type="text/javascript">{plotlyjs}</script>\n'
        f"<script>{BOOT}</script>\n</body></html>\n"
    )


# ---------------------------------------------------------------------------------------------- blocks
def card(key: str, value: str, detail: str = "", wide: bool = False) -> str:
    """A summary card; ``value`` and ``detail`` are HTML (escape user text before)."""
    d = f'<div class="d">{detail}</div>' if detail else ""
    return f'<div class="card{" wide" if wide else ""}"><div class="k">{esc(key)}</div><div class="v">{value}</div>{d}</div>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool] = (), cls: str = "") -> str:
    """A table; ``header`` is plain text, cells are HTML. ``numeric[i]`` right-aligns column i."""
    num = [bool(numeric[i]) if i < len(numeric) else False for i in range(len(header))]
    head = "".join(
        f'<th class="n">{esc(h)}</th>' if n else f"<th>{esc(h)}</th>" for h, n in zip(header, num, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if n else f"<td>{c}</td>" for c, n in zip(row, num, strict=True))
        + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def kv(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column key/value table; values are HTML."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def badge(state: str, text: str) -> str:
    return f'<span class="badge {esc(state)}">{esc(text)}</span>'
