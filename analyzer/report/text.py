"""Terminal tables (rich). Human units here only; records keep raw SI numbers.

Tables are compact (no vertical rules) and fit 80 columns unless the command is given --wide; a quantity per item
is shown in the unit that puts its column's largest value between 1 and 1,000 (mg of CO2e per 1,000 items, mJ per
item, ms), the unit in the header."""

from __future__ import annotations

import re
from typing import Iterable

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..records import ModelProfile

# (multiplier from the base unit, header label), largest multiplier first
CO2E_PER_ITEM = ((1e6, "mgCO2e per 1k items"), (1e3, "gCO2e per 1k items"), (1.0, "kgCO2e per 1k items"))  # from g/item
ENERGY_PER_ITEM = ((1e3, "mJ per item"), (1.0, "J per item"), (1e-3, "kJ per item"))  # from J per item
# a projection's energy is the chip's (what its error model was checked on); its CO2e is at the site's boundary
# (host share, idle time, PUE): the columns say so, or a GPU with a smaller host share reads as dearer in J, cheaper in g
CHIP_ENERGY_PER_ITEM = tuple((m, f"chip {u}") for m, u in ENERGY_PER_ITEM)
TIME = ((1e6, "us"), (1e3, "ms"), (1.0, "s"))  # from s


def two_lines(col: str) -> str:
    """A column header over two lines: before ' per ' where it has one ('chip mJ' / 'per item'), else at its first
    space ('latency' / 'ms'): narrow columns keep the table within 100 characters."""
    at = col.find(" per ")
    return col[:at] + "\n" + col[at + 1:] if at > 0 else col.replace(" ", "\n", 1)


def table(title: str = "", tight: bool = False) -> Table:
    """A compact table: a rule under the header, no vertical rules, the title left; `tight`: one space between
    columns instead of two (a wide table within 80 columns)."""
    return Table(title=escape(title) if title else None, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                 show_edge=False, collapse_padding=True, padding=(0, 0) if tight else (0, 1))


def unit_for(values: Iterable[float | None], ladder: tuple[tuple[float, str], ...]) -> tuple[float, str]:
    """The unit of `ladder` in which the largest of `values` is below 1,000 (the smallest such unit that still is);
    values are then shown x the multiplier."""
    top = max((abs(v) for v in values if v is not None), default=0.0)
    for mult, label in ladder:
        if top * mult < 1000:
            return mult, label
    return ladder[-1]


def num(x: float | None, none: str = "n/a") -> str:
    """Three significant figures without exponents in the range a table shows; thousands separated."""
    if x is None:
        return none
    a = abs(x)
    if a >= 1e15 or (0 < a < 1e-3):
        return f"{x:.3g}"
    if a >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def count(x: float | None, none: str = "never") -> str:
    """A count of items or days as a person reads it: 1,986; 27.2 M; 199 bn."""
    if x is None:
        return none
    for f, s in ((1e12, " tn"), (1e9, " bn"), (1e6, " M")):
        if abs(x) >= f:
            return f"{x / f:.3g}{s}"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


SEPARATORS = "_-./@"


def fold_name(name: str, width: int) -> str:
    """A name over lines of at most `width` characters, broken after a separator (_ - . / @) so no part of it is cut
    mid-word ('mobilenet_v3_' / 'large'); a part longer than `width` alone is cut at `width` (nothing else fits).
    Only the table cell sees the line breaks; JSON and CSV keep the name whole."""
    if width < 1 or len(name) <= width:
        return name
    parts = re.findall(rf"[^{re.escape(SEPARATORS)}]*[{re.escape(SEPARATORS)}]|[^{re.escape(SEPARATORS)}]+", name)
    lines, cur = [], ""
    for p in parts:
        while len(p) > width:  # a part alone wider than the column
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(p[:width])
            p = p[width:]
        if len(cur) + len(p) > width:
            lines.append(cur)
            cur = p
        else:
            cur += p
    if cur:
        lines.append(cur)
    return "\n".join(lines)


def fold_words(text: str, width: int) -> str:
    """Text over lines of at most `width`: broken at spaces, and a word wider than `width` at its separators
    (fold_name), so no word is cut in the middle."""
    lines: list[str] = []
    cur = ""
    for word in text.split(" "):
        for piece in fold_name(word, width).split("\n"):
            if cur and len(cur) + 1 + len(piece) <= width:
                cur += " " + piece
            else:
                if cur:
                    lines.append(cur)
                cur = piece
    if cur:
        lines.append(cur)
    return "\n".join(lines)


def longest_part(texts: Iterable[str]) -> int:
    """The width of the widest piece fold_words cannot break (a word's part between separators): a column at
    least this wide cuts nothing."""
    return max((len(piece) for t in texts for word in str(t).split() for piece in _parts(word)), default=1)


def _parts(word: str) -> list[str]:
    return re.findall(rf"[^{re.escape(SEPARATORS)}]*[{re.escape(SEPARATORS)}]|[^{re.escape(SEPARATORS)}]+", word)


def fit_widths(columns: list[list[str]], avail: int, cap: int = 24, at_least: dict[int, int] | None = None,
               weight: dict[int, float] | None = None) -> list[int]:
    """Column widths summing to at most `avail`: each column's natural width (its longest line), the widest
    (over its `weight`, default 1) shrunk first, none below the widest piece it holds (longest_part, at most `cap`), so folding cuts no
    name; only where even those minimums do not fit is the widest column shrunk further."""
    natural = [max((len(line) for text in col for line in str(text).split("\n")), default=1) for col in columns]
    least = [min(max(longest_part(col), (at_least or {}).get(i, 0)), cap, n) for i, (col, n) in enumerate(zip(columns, natural))]
    widths = list(natural)
    while sum(widths) > avail:
        slack = [w - m for w, m in zip(widths, least)]
        i = max(range(len(widths)), key=lambda k: (slack[k] > 0, widths[k] / (weight or {}).get(k, 1.0)))
        if widths[i] <= 1:
            break
        widths[i] -= 1
    return widths


def folded_table(t: Table, headers: list[str], rows: list[list[str]], avail: int, right: Iterable[int] = (),
                 at_least: dict[int, int] | None = None, weight: dict[int, float] | None = None) -> Table:
    """`t` with these columns and rows, each cell folded at spaces and separators to widths that fit `avail`
    characters of content (fit_widths); rich then wraps nothing."""
    right = set(right)
    widths = fit_widths([[h, *(r[i] for r in rows)] for i, h in enumerate(headers)], avail, at_least=at_least, weight=weight)
    for i, (h, w) in enumerate(zip(headers, widths)):
        t.add_column(cell(fold_words(h, w)), justify="right" if i in right else "left", no_wrap=True, width=w)
    for r in rows:
        t.add_row(*(cell(fold_words(str(x), w)) for x, w in zip(r, widths)))
    return t


def cell(text: str) -> Text:
    """A table cell whose line breaks are ours (fold_name, fold_words): each line shown safely (report/safe), the
    breaks kept (a plain string's newline would be shown as an escape)."""
    from .safe import terminal

    return Text("\n".join(terminal(line) for line in text.split("\n")))


def header(col: str, width: int = 8) -> Text:
    """A column header over as many lines as it takes to keep each within `width` characters (at its spaces)."""
    return cell(fold_words(col, width))


def site_line(target: dict) -> str:
    """Where it runs, every option as resolved: the datacenter and its PUE, the region with its year and grid
    intensity (from the site's label, e.g. 'google-fleet, fra@2023'), the busy share and the boundaries."""
    site = target.get("site") or {}
    label = site.get("label", "")
    dc, _, region = label.partition(", ")
    pue, grid = target.get("pue", site.get("pue")), target.get("grid_gco2e_per_kwh", site.get("grid_gco2e_per_kwh"))
    where = f"{dc + ' ' if dc else ''}(PUE {pue:g}); grid {region + ' ' if region else ''}({grid:.4g} gCO2e/kWh)"
    return (f"{where}; busy {site.get('utilization', target.get('utilization', 1)):.0%}; power at the "
            f"{site.get('power_boundary', target.get('power_boundary', 'chip'))}, embodied at the "
            f"{site.get('embodied_boundary', target.get('embodied_boundary', 'chip'))} boundary")


def site_from_inputs(inputs: Iterable[dict], pue: float, grid: float) -> str:
    """'industry-average-2021 (PUE 1.57); grid fra@2023 (56.04 gCO2e/kWh)': the datacenter and the region (with its
    year) named by the sources of a record's pue and grid inputs, where a profile gave them, beside their values."""
    def named(key: str) -> str:
        src = next((str(i.get("source", "")) for i in inputs if isinstance(i, dict) and i.get("name") == key), "")
        head = src.split(":", 1)[0].split(" gross", 1)[0].split(" net", 1)[0].strip()
        return head + " " if head and " " not in head and not head.startswith("estimated") else ""
    dc, region = named("pue"), named("grid_gco2e_per_kwh")
    return (f"{dc}(PUE {pue:g})" if dc else f"PUE {pue:g}") + "; grid " + (
        f"{region}({grid:.4g} gCO2e/kWh)" if region else f"{grid:.4g} gCO2e/kWh")


def dedupe(lines: Iterable[str]) -> list[str]:
    """Each note once, in order; notes that differ only in their numbers (one per model of a sample) become the
    first of them and how many more there were."""
    groups: dict[str, list[str]] = {}
    for n in dict.fromkeys(lines):
        groups.setdefault(re.sub(r"\d[\d,.]*", "#", n), []).append(n)
    return [g[0] if len(g) == 1 else f"{g[0]} (and {len(g) - 1} more like it, with other numbers)" for g in groups.values()]


def notes(lines: Iterable[str], console: Console, prefix: str = "") -> None:
    """Each note once (dedupe), in order."""
    for n in dedupe(lines):
        console.print(f"[yellow]note[/] {escape(prefix + n)}")


def _si(x: float, unit: str = "") -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}".rstrip()


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def render_profiles(profiles: list[ModelProfile], console: Console, per_op: bool = False, quiet: bool = False) -> None:
    t = table("Static profile", tight=True)
    # sparsity columns where a model has any (or --wide: every column)
    sparse = any((p.weight_sparsity or 0) > 0.005 or (p.nm_sparsity or 0) > 0 for p in profiles) or console.width > 200
    cols = ("model", "batch", "params", "MACs", "FLOPs", "weights", "activ.", "FLOP/B") + (("zeros", "2:4") if sparse else ()) + ("covered",)
    name_width = max(min(max((len(p.model) for p in profiles), default=5), console.width - 57 - (12 if sparse else 0)), 10)
    for col in cols:
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for p in profiles:
        row = {"model": cell(fold_name(p.model, name_width)), "batch": str(p.batch), "params": _si(p.params), "MACs": _si(p.macs),
               "FLOPs": _si(p.flops), "weights": _si(p.weight_bytes, "B"), "activ.": _si(p.activation_bytes, "B"),
               "FLOP/B": f"{p.arithmetic_intensity:.1f}", "zeros": _pct(p.weight_sparsity), "2:4": _pct(p.nm_sparsity),
               "covered": _pct(p.coverage)}
        t.add_row(*(row[c] for c in cols))
    console.print(t)
    for p in profiles:
        if not quiet:
            notes(p.notes, console, f"{p.model}: ")
        if per_op and p.per_op:
            nt = table(f"Per operator: {p.model}")
            for col in ("node", "op", "class", "MACs", "FLOPs", "bytes", "output shapes"):
                nt.add_column(col, justify="right" if col in ("MACs", "FLOPs", "bytes") else "left", overflow="fold")
            for n in p.per_op:
                shapes = ", ".join("x".join(str(d) for d in s) for s in n.output_shapes)
                nt.add_row(escape(n.name), escape(n.op_type) + ("" if n.supported else " (unsupported)"), n.op_class,
                           f"{n.macs:,}", f"{n.flops:,}", f"{n.bytes:,}", shapes)
            console.print(nt)
