"""One self-contained HTML page for a leaderboard: inline CSS and JavaScript, the plot as a base64 PNG.

Nothing is fetched from the network; the page opens from disk. Clicking a column header sorts the table by it
(best first on the first click, then the other way round); ``aria-sort`` on the header says how it is sorted.
"""

from __future__ import annotations

import base64
import html
import math

from ..version import __version__
from .cells import (
    block_mean_rank,
    cell_ci,
    cell_value,
    column_label,
    footer_lines,
    has_rank_intervals,
    rank_interval_text,
    signature_lines,
    system_label,
)
from .leaderboard import Leaderboard
from .plot import plot_leaderboard

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1f2328;
background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}
p.meta{color:#57606a;margin:0 0 12px;font-size:13px}
table.lb{border-collapse:collapse;font-size:13px;margin-bottom:8px}
table.lb th,table.lb td{padding:5px 10px;border-bottom:1px solid #d0d7de;text-align:right;white-space:nowrap}
table.lb th:first-child,table.lb td:first-child{text-align:left}
table.lb th{cursor:pointer;user-select:none;background:#f6f8fa;border-bottom:2px solid #8c959f}
table.lb th:hover{background:#eaeef2}
table.lb th[aria-sort=descending]::after{content:" \\25BC"}table.lb th[aria-sort=ascending]::after{content:" \\25B2"}
table.lb tr.baseline td{background:#fff8c5}
td .ci{display:block;color:#57606a;font-size:11px}
td.sig .v{font-weight:700;color:#1a7f37}
td.worse .v{font-weight:700;color:#cf222e}
ul.notes{font-size:12px;color:#57606a;padding-left:18px}
code{font-size:11px;background:#f6f8fa;padding:1px 4px;border-radius:3px}
img.plot{max-width:100%;border:1px solid #d0d7de;margin-top:8px}
"""

_JS = """
(function(){
  function sortBy(th){
    var table=th.closest('table'), body=table.tBodies[0];
    var col=Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric=th.dataset.type!=='text';
    var best=th.dataset.better==='lower'?'ascending':'descending';
    var current=th.getAttribute('aria-sort');
    var order=current===best?(best==='ascending'?'descending':'ascending'):best;
    if(!numeric){order=current==='ascending'?'descending':'ascending';}
    Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',order);
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=a.cells[col].dataset.value, y=b.cells[col].dataset.value, r;
      if(numeric){x=x===''?NaN:parseFloat(x);y=y===''?NaN:parseFloat(y);
        if(isNaN(x)&&isNaN(y))r=0;else if(isNaN(x))return 1;else if(isNaN(y))return -1;else r=x-y;}
      else{r=x.localeCompare(y);}
      return order==='ascending'?r:-r;
    });
    rows.forEach(function(row){body.appendChild(row);});
  }
  document.querySelectorAll('table.lb th').forEach(function(th){
    th.addEventListener('click',function(){sortBy(th);});
  });
})();
"""


def _num(value: float | None) -> str:
    if value is None or value != value:
        return ""
    return repr(float(value))


def _table(lb: Leaderboard, keys: list[str], section: str | None) -> list[str]:
    e = html.escape
    caption = f"<h2>{e(section)}</h2>" if section is not None else ""
    head = ['<th data-type="text" title="system">system</th>']
    for key in keys:
        better = "higher" if lb.key_info[key].higher_is_better else "lower"
        head.append(f'<th data-type="number" data-better="{better}" title="{e(key)}">'
                    f"{e(column_label(lb, key))}</th>")
    head.append('<th data-type="number" data-better="lower" title="mean rank">mean rank</th>')
    rows = []
    for entry in lb.systems:
        cls = ' class="baseline"' if entry.name == lb.baseline else ""
        cells = [f'<td data-value="{e(entry.name)}">{e(system_label(lb, entry))}</td>']
        for key in keys:
            sig = lb.significance(entry.name, key)  # "better" (class sig), "worse" (class worse) or None
            p = (entry.p_values or {}).get(key)
            title = f"p = {p:.4g}" if p is not None and p == p else "baseline"
            if entry.p_adjusted is not None and key in entry.p_adjusted:
                title += f", adjusted {entry.p_adjusted[key]:.4g}"
            cls_sig = {"better": " class=sig", "worse": " class=worse"}.get(sig or "", "")
            cells.append(f'<td{cls_sig} data-value="{_num(entry.scores.get(key))}" '
                         f'title="{title}"><span class="v">{e(cell_value(lb, entry, key))}</span>'
                         f'<span class="ci">{e(cell_ci(lb, entry, key))}</span></td>')
        rank = block_mean_rank(entry, keys)
        cells.append(f'<td data-value="{_num(rank)}">{"n/a" if math.isnan(rank) else f"{rank:.2f}"}</td>')
        rows.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return [caption, '<table class="lb">', "<thead><tr>" + "".join(head) + "</tr></thead>", "<tbody>",
            *rows, "</tbody>", "</table>"]


def _rank_tables(lb: Leaderboard) -> list[str]:
    """Rank [95% interval] and the share of resamples ranked first, per key (sortable like the scores)."""
    e = html.escape
    parts = ["<h2>Rank intervals</h2>",
             '<p class="meta">rank [95% bootstrap interval] and the share of resamples where the system ranks '
             "first; overlapping intervals are ties the point ranks hide.</p>"]
    for section, keys in lb.section_keys():
        head = ['<th data-type="text">system</th>'] + [
            f'<th data-type="number" data-better="lower" title="{e(k)}">{e(column_label(lb, k))}</th>' for k in keys]
        rows = []
        for entry in lb.systems:
            cells = [f'<td data-value="{e(entry.name)}">{e(system_label(lb, entry))}</td>']
            cells += [f'<td data-value="{_num(entry.ranks.get(k))}">{e(rank_interval_text(entry, k))}</td>'
                      for k in keys]
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts += [f"<h2>{e(section)}</h2>" if section is not None else "", '<table class="lb ranks">',
                  "<thead><tr>" + "".join(head) + "</tr></thead>", "<tbody>", *rows, "</tbody>", "</table>"]
    return parts


def render_html_page(lb: Leaderboard, *, plot_png: bytes | None = None, include_plot: bool = True) -> str:
    """The page as a string. The plot is drawn here (PNG) unless given; without matplotlib it is left out."""
    e = html.escape
    if include_plot and plot_png is None:
        try:
            plot_png = plot_leaderboard(lb, "png")
        except Exception:  # noqa: BLE001 - the table is still useful without the plot
            plot_png = None
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>rrg-eval leaderboard: {e(lb.baseline)} and {len(lb.systems) - 1} other(s)</title>",
             f"<style>{_CSS}</style>", "</head>", "<body>",
             "<h1>rrg-eval leaderboard</h1>",
             f'<p class="meta">{len(lb.systems)} systems on {lb.n} reports; baseline <b>{e(lb.baseline)}</b>. '
             "Click a column header to sort.</p>"]
    for section, keys in lb.section_keys():
        parts += _table(lb, keys, section)
    if has_rank_intervals(lb):
        parts += _rank_tables(lb)
    parts.append('<ul class="notes">')
    parts += [f"<li>{e(line)}</li>" for line in footer_lines(lb)]
    parts.append("</ul>")
    if plot_png:
        data = base64.b64encode(plot_png).decode("ascii")
        parts.append(f'<img class="plot" alt="scores with 95% confidence intervals" '
                     f'src="data:image/png;base64,{data}">')
    if lb.signatures:
        parts.append("<h2>Signatures</h2>")
        parts.append('<ul class="notes">' + "".join(f"<li><code>{e(s)}</code></li>" for s in
                                                     signature_lines(lb)) + "</ul>")
    for title, items in (("Warnings", lb.warnings),
                         ("Not run (unavailable)", [f"{m}: {w}" for m, w in lb.unavailable.items()]),
                         ("Failed", [f"{m}: {w}" for m, w in lb.errors.items()])):
        if items:
            parts.append(f"<h2>{title}</h2>")
            parts.append('<ul class="notes">' + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
    parts += [f'<p class="meta">rrg-eval {e(__version__)}</p>', f"<script>{_JS}</script>", "</body>", "</html>"]
    return "\n".join(p for p in parts if p) + "\n"
