"""Pure rendering of a :class:`~rrg_eval.result.Result` as text: terminal table, Markdown, CSV, LaTeX, JSON.

Values keep full precision everywhere except in the human tables, where fractions are shown x100 with two
decimals (marked "%"), CIDEr-like scores with three decimals and counts with two. Rounding happens only here.
"""

from __future__ import annotations

import csv
import io
import json

from .escape import csv_cell, latex_comment, latex_text, markdown_code, markdown_text, one_line
from .result import KeyInfo, Result
from .version import __version__

FORMATS = ("table", "json", "markdown", "csv", "latex")


def display_value(value: float, info: KeyInfo) -> str:
    """A score as a table shows it."""
    if value != value:  # NaN
        return "n/a"
    if info.kind in ("fraction", "rate"):
        return f"{value * 100:.2f}"
    if info.kind == "score":
        return f"{value:.3f}"
    return f"{value:.2f}"


def display_label(key: str, info: KeyInfo) -> str:
    """A key as a table labels it: fractions carry "(%)", lower-is-better keys an arrow."""
    label = key
    if info.kind in ("fraction", "rate"):
        label += " (%)"
    if not info.higher_is_better:
        label += " ↓"
    return label


def _rows(result: Result) -> list[tuple[str, str]]:
    return [(display_label(k, result.key_info[k]), display_value(v, result.key_info[k]))
            for k, v in result.scores.items()]


def _header(result: Result) -> str:
    return f"rrg-eval {__version__}: {result.n} reports; fractions shown x100 (%)"


def render_table(result: Result) -> str:
    """Plain aligned text for the terminal."""
    rows = _rows(result)
    width = max([len("metric")] + [len(label) for label, _ in rows])
    vwidth = max([len("value")] + [len(value) for _, value in rows])
    lines = [_header(result), "", f"{'metric':<{width}}  {'value':>{vwidth}}", f"{'-' * width}  {'-' * vwidth}"]
    lines += [f"{one_line(label):<{width}}  {value:>{vwidth}}" for label, value in rows]
    lines += _footer(result, bullet="  ", code=one_line, text=one_line)
    return "\n".join(lines) + "\n"


def _footer(result: Result, *, bullet: str, code, text=lambda s: s) -> list[str]:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    if result.signatures:
        lines += ["", "signatures:"]
        lines += [f"{bullet}{code(sig)}" for sig in result.signatures.values()]
    if result.warnings:
        lines += ["", "warnings:"]
        lines += [f"{bullet}{text(w)}" for w in result.warnings]
    if result.unavailable:
        lines += ["", "not run (unavailable):"]
        lines += [f"{bullet}{text(f'{m}: {why}')}" for m, why in result.unavailable.items()]
    if result.errors:
        lines += ["", "failed:"]
        lines += [f"{bullet}{text(f'{m}: {why}')}" for m, why in result.errors.items()]
    return lines


def render_markdown(result: Result) -> str:
    """A GitHub-flavoured Markdown table with the signatures as a list below it."""
    lines = [f"_{_header(result)}_", "", "| metric | value |", "|---|---:|"]
    lines += [f"| {markdown_text(label)} | {value} |" for label, value in _rows(result)]
    lines += _footer(result, bullet="- ", code=markdown_code, text=markdown_text)
    return "\n".join(lines) + "\n"


def render_latex(result: Result) -> str:
    """A booktabs table; signatures follow as LaTeX comments."""
    lines = [r"\begin{tabular}{lr}", r"\toprule", r"Metric & Value \\", r"\midrule"]
    lines += [f"{latex_text(label)} & {value} \\\\" for label, value in _rows(result)]
    lines += [r"\bottomrule", r"\end{tabular}", f"% {_header(result)}"]
    lines += [f"% {latex_comment(sig)}" for sig in result.signatures.values()]
    return "\n".join(lines) + "\n"


def render_csv(result: Result) -> str:
    """One row per key with the full-precision value and the metric's signature."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "key", "value", "signature"])
    for key, value in result.scores.items():
        metric = result.key_info[key].metric
        signature = result.signatures.get(metric, "")
        writer.writerow([csv_cell(metric), csv_cell(key), repr(float(value)), csv_cell(signature)])
    return out.getvalue()


def render_json(result: Result) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_result(result: Result, fmt: str) -> str:
    """Render ``result`` in format ``fmt`` (one of :data:`FORMATS`)."""
    renderers = {"table": render_table, "json": render_json, "markdown": render_markdown, "csv": render_csv,
                 "latex": render_latex}
    if fmt not in renderers:
        from .errors import ConfigError

        raise ConfigError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return renderers[fmt](result)


def render_catalog(infos: list, fmt: str = "table") -> str:  # list[MetricInfo]
    """The metric catalogue as a text table (with default configs) or JSON."""
    if fmt == "json":
        return json.dumps([i.to_dict() for i in infos], indent=2, ensure_ascii=False) + "\n"
    header = ("name", "installed", "extra", "measures")
    rows = [(i.name, "yes" if i.available else "no", i.extra or "-", i.description) for i in infos]
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(header[:-1])]
    lines = ["  ".join(f"{h:<{w}}" for h, w in zip(header[:-1], widths)) + "  " + header[-1]]
    for row in rows:
        lines.append("  ".join(f"{v:<{w}}" for v, w in zip(row[:-1], widths)) + "  " + row[-1])
    lines += ["", "default config (change with --set METRIC.FIELD=VALUE):"]
    for info in infos:
        options = ", ".join(f"{k}={v!r}" for k, v in info.default_config.items()) or "(no options)"
        lines.append(f"  {info.name}: {options}")
    missing = [i for i in infos if not i.available]
    if missing:
        lines += ["", "cannot run here yet (why, and how to fix it):"]
        lines += [f"  {i.name}: {i.reason}" for i in missing]
    return "\n".join(lines) + "\n"
