"""Pure rendering of a :class:`~rrg_eval.result.Result` as text: terminal table, Markdown, CSV, LaTeX, JSON.

Values keep full precision everywhere except in the human tables, where fractions are shown x100 with two
decimals (marked "%"), CIDEr-like scores with three decimals and counts with two. Rounding happens only here.
"""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, get_args

from .escape import csv_cell, latex_comment, latex_text, markdown_code, markdown_text, one_line
from .normalize import Normalization
from .version import __version__

if TYPE_CHECKING:
    from .result import KeyInfo, Result

FORMATS = ("table", "json", "markdown", "csv", "latex")  # rrg-eval score --format
COMPARE_FORMATS = ("table", "markdown", "latex", "csv", "json", "html")  # rrg-eval compare --format
CATALOG_FORMATS = ("table", "json")  # rrg-eval metrics / models --format
NORMALIZE_CHOICES: tuple[str, ...] = get_args(Normalization)  # --normalize


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


def _rows(result: Result) -> list[tuple[str, ...]]:
    """(label, value) per key; (label, value, "[low, high]") when the result carries intervals."""
    rows: list[tuple[str, ...]] = []
    for k, v in result.scores.items():
        info = result.key_info[k]
        row: tuple[str, ...] = (display_label(k, info), display_value(v, info))
        if result.ci_settings:
            lo, hi = result.ci.get(k, (float("nan"), float("nan")))
            row += (f"[{display_value(lo, info)}, {display_value(hi, info)}]",)
        rows.append(row)
    return rows


def _header(result: Result) -> str:
    return f"rrg-eval {__version__}: {result.n} reports; fractions shown x100 (%)"


def _ci_line(result: Result) -> str:
    c = result.ci_settings
    return (f"[low, high]: {c['confidence'] * 100:g}% percentile bootstrap CI ({c['resamples']} resamples, "
            f"seed {c['seed']})")


def render_table(result: Result, columns: int | None = None) -> str:
    """Plain aligned text for the terminal; with ``columns`` (the terminal's width), the warnings and reasons
    under it are wrapped to it (the table itself is three narrow columns; signatures are never broken)."""
    rows = _rows(result)
    width = max([len("metric")] + [len(row[0]) for row in rows])
    vwidth = max([len("value")] + [len(row[1]) for row in rows])
    head = [_header(result)] + ([_ci_line(result)] if result.ci_settings else [])
    if not rows:  # no header over an empty table: say why there is nothing
        lines = [_header(result), "", "no scores: no selected metric produced one (see below)"]
    elif result.ci_settings:
        cwidth = max([len("CI")] + [len(row[2]) for row in rows])
        lines = [*head, "", f"{'metric':<{width}}  {'value':>{vwidth}}  CI",
                 f"{'-' * width}  {'-' * vwidth}  {'-' * cwidth}"]
        lines += [f"{one_line(label):<{width}}  {value:>{vwidth}}  {ci}" for label, value, ci in rows]
    else:
        lines = [*head, "", f"{'metric':<{width}}  {'value':>{vwidth}}", f"{'-' * width}  {'-' * vwidth}"]
        lines += [f"{one_line(label):<{width}}  {value:>{vwidth}}" for label, value in rows]
    lines += wrap_outcome(_footer(result, bullet="  ", code=one_line, text=one_line), columns)
    return "\n".join(lines) + "\n"


def outcome_lines(signatures: Iterable[str], warnings: Iterable[str], unavailable: Mapping[str, str],
                  errors: Mapping[str, str], *, bullet: str, code: Callable[[str], str],
                  text: Callable[[str], str] = lambda s: s) -> list[str]:
    """The one footer of every text table: signatures, warnings, what did not run, what failed.

    ``code`` formats signatures and ``text`` escapes the other (user-derived) lines for the output format.
    """
    signatures, warnings = list(signatures), list(warnings)
    lines: list[str] = []
    if signatures:
        lines += ["", "signatures:"]
        lines += [f"{bullet}{code(sig)}" for sig in signatures]
    if warnings:
        lines += ["", "warnings:"]
        lines += [f"{bullet}{text(w)}" for w in warnings]
    if unavailable:
        lines += ["", "not run (unavailable):"]
        lines += [f"{bullet}{text(f'{m}: {why}')}" for m, why in unavailable.items()]
    if errors:
        lines += ["", "failed:"]
        lines += [f"{bullet}{text(f'{m}: {why}')}" for m, why in errors.items()]
    return lines


def wrap_line(line: str, width: int | None, indent: str = "  ") -> list[str]:
    """``line`` wrapped at spaces to ``width`` (continuations indented); words and numbers are never split."""
    if width is None or len(line) <= width:
        return [line]
    lead = line[:len(line) - len(line.lstrip(" "))]
    glued = _GLUE.sub(lambda m: m.group(0).replace(" ", "\0"), line)  # "p < 0.05" stays on one line
    wrapped = textwrap.wrap(glued, width=width, initial_indent="", subsequent_indent=lead + indent,
                            break_long_words=False, break_on_hyphens=False) or [glued]
    return [part.replace("\0", " ") for part in wrapped]


_GLUE = re.compile(r"\b(?:p <|seed|x100) \S+")


def wrap_outcome(lines: list[str], width: int | None) -> list[str]:
    """The outcome lines with warnings and reasons wrapped; signatures stay whole (they are copied, not read)."""
    out: list[str] = []
    in_signatures = False
    for line in lines:
        if line and not line.startswith(" "):
            in_signatures = line == "signatures:"
        out += [line] if in_signatures else wrap_line(line, width)
    return out


def _footer(result: Result, *, bullet: str, code, text=lambda s: s) -> list[str]:  # type: ignore[no-untyped-def]
    return outcome_lines(result.signatures.values(), result.warnings, result.unavailable, result.errors,
                         bullet=bullet, code=code, text=text)


def render_markdown(result: Result) -> str:
    """A GitHub-flavoured Markdown table with the signatures as a list below it."""
    lines = [f"_{_header(result)}_"] + ([f"_{_ci_line(result)}_"] if result.ci_settings else [])
    if result.ci_settings:
        lines += ["", "| metric | value | CI |", "|---|---:|---:|"]
    else:
        lines += ["", "| metric | value |", "|---|---:|"]
    lines += ["| " + " | ".join([markdown_text(row[0]), *row[1:]]) + " |" for row in _rows(result)]
    lines += _footer(result, bullet="- ", code=markdown_code, text=markdown_text)
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (``rrg_eval.escape.latex_text``)."""
    return latex_text(text)


def render_latex(result: Result) -> str:
    """A booktabs table; signatures follow as LaTeX comments."""
    if result.ci_settings:
        lines = [r"\begin{tabular}{lrr}", r"\toprule", r"Metric & Value & CI \\", r"\midrule"]
    else:
        lines = [r"\begin{tabular}{lr}", r"\toprule", r"Metric & Value \\", r"\midrule"]
    lines += [" & ".join([latex_text(row[0]), *row[1:]]) + r" \\" for row in _rows(result)]
    lines += [r"\bottomrule", r"\end{tabular}", f"% {_header(result)}"]
    lines += [f"% {_ci_line(result)}"] if result.ci_settings else []
    lines += [f"% {latex_comment(sig)}" for sig in result.signatures.values()]
    return "\n".join(lines) + "\n"


def render_csv(result: Result) -> str:
    """One row per key with the full-precision value and the metric's signature."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    with_ci = bool(result.ci_settings)
    writer.writerow(["metric", "key", "value", *(["ci_low", "ci_high"] if with_ci else []), "signature"])
    for key, value in result.scores.items():
        metric = result.key_info[key].metric
        ci = [repr(float(x)) for x in result.ci.get(key, (float("nan"), float("nan")))] if with_ci else []
        writer.writerow([csv_cell(metric), csv_cell(key), repr(float(value)), *ci,
                         csv_cell(result.signatures.get(metric, ""))])
    return out.getvalue()


def render_json(result: Result) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_result(result: Result, fmt: str, *, width: int | None = None) -> str:
    """Render ``result`` in format ``fmt`` (one of :data:`FORMATS`); ``width``: the terminal's, for ``table``."""
    if fmt == "table":
        return render_table(result, width)
    renderers = {"table": render_table, "json": render_json, "markdown": render_markdown, "csv": render_csv,
                 "latex": render_latex}
    if fmt not in renderers:
        from .errors import ConfigError

        raise ConfigError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return renderers[fmt](result)


def render_catalog(infos: list, fmt: str = "table") -> str:  # list[MetricInfo]
    """The metric catalogue: one row per metric with separate columns for what it needs (``can run``,
    ``installed``, ``weights`` and where they were found, ``configured`` for judges), its default config, then
    everything that cannot run yet with its reason and the one command that fixes it. Or JSON."""
    if fmt == "json":
        return json.dumps([i.to_dict() for i in infos], indent=2, ensure_ascii=False) + "\n"

    def yes(flag: bool | None) -> str:
        return "-" if flag is None else "yes" if flag else "no"

    header = ("name", "can run", "installed", "weights", "configured", "extra", "measures")
    rows = [(i.name, yes(i.available), yes(i.installed), i.weights, yes(i.configured), i.extra or "-",
             i.description) for i in infos]
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(header[:-1])]
    lines = ["  ".join(f"{h:<{w}}" for h, w in zip(header[:-1], widths)) + "  " + header[-1]]
    for row in rows:
        lines.append("  ".join(f"{v:<{w}}" for v, w in zip(row[:-1], widths)) + "  " + row[-1])
    lines += ["", "default config (change with --set METRIC.FIELD=VALUE):"]
    for info in infos:
        options = ", ".join(f"{k}={v!r}" for k, v in info.default_config.items()) or "(no options)"
        lines.append(f"  {info.name}: {options}")
    keyed = [i for i in infos if i.key_options]
    if keyed:
        lines += ["", "keys produced only under some options:"]
        for info in keyed:
            by_options: dict[str, list[str]] = {}
            for key, opts in info.key_options.items():
                flags = " ".join(f"--set {info.name}.{k}={v}" for k, v in opts.items())
                by_options.setdefault(flags, []).append(key)
            lines += [f"  {info.name}: {', '.join(keys)} ({flags})" for flags, keys in by_options.items()]
    missing = [i for i in infos if not i.available]
    if missing:
        lines += ["", "cannot run here yet (why, and the command that fixes it):"]
        for info in missing:
            lines.append(f"  {info.name}: {info.reason}")
            lines.append(f"    fix: {info.fix}" if info.fix else "    fix: none in this version of rrg-eval")
        if any(i.fix and i.fix.startswith("rrg-eval models download") for i in missing):
            lines += ["", "without network here: run `rrg-eval models download --metrics ... --to DIR` on a "
                          "connected machine, copy DIR here and set RRG_EVAL_MODEL_DIR=DIR."]
    return "\n".join(lines) + "\n"
