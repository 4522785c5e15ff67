"""Rich tables for command output."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_stats(result: dict[str, Any]) -> None:
    """Counts per class and split, then the imbalance summary per split."""
    console = Console()
    splits = list(result["splits"])
    table = Table(title=f"{result['source']} ({result['num_classes']} classes)")
    table.add_column("class", max_width=48, no_wrap=True, overflow="ellipsis")
    for s in splits:
        table.add_column(f"{s} n (IRLbl)", justify="right", no_wrap=True)
    for name in result["classes"]:
        row = [name]
        for s in splits:
            st = result["splits"][s]
            ir = st["irlbl"][name]
            row.append(f"{st['counts'][name]} ({'-' if ir is None else f'{ir:.1f}'})")
        table.add_row(*row)
    console.print(table)
    summary = Table(title="imbalance")
    summary.add_column("split")
    for key in ("n_samples", "mean_ir", "max_ir", "cvir", "scumble", "cardinality"):
        summary.add_column(key, justify="right")
    for s in splits:
        st = result["splits"][s]
        summary.add_row(
            s,
            str(st["n_samples"]),
            *(f"{st[k]:.3f}" for k in ("mean_ir", "max_ir", "cvir", "scumble", "cardinality")),
        )
    console.print(summary)


def print_landcover_stats(result: dict[str, Any]) -> None:
    """SEN12MS/DFC2020: class pixel shares per split, then the training split's band statistics."""
    splits = list(result["splits"])
    rows = [[c, *(f"{result['splits'][s]['fraction'][c]:.4f}" for s in splits)] for c in result["classes"]]
    rows.append(["(patches)", *(result["splits"][s]["patches"] for s in splits)])
    rows.append(["(ignored px)", *(result["splits"][s]["ignored"] for s in splits)])
    title = f"{result['source']} ({result['dataset']}, {result['label_scheme']}): share of labelled pixels"
    print_table(["class", *splits], rows, title)
    bands = result.get("band_statistics")
    if bands:
        print_table(
            ["band", "mean", "std"],
            [[b, f"{v['mean']:.4f}", f"{v['std']:.4f}"] for b, v in bands["bands"].items()],
            f"band statistics of the training split ({bands['patches']} patches; data.statistics reads --json)",
        )


def print_table(header: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    """A plain table: one column per header entry, values printed with str(). Never wraps or crops a
    cell (ids stay whole for copying): the table is as wide as its longest cells need."""
    cells = [[str(v) for v in row] for row in rows]
    table = Table(title=title)
    for col in header:
        table.add_column(col, no_wrap=True)
    for row in cells:
        table.add_row(*row)
    need = sum(max([len(h), *(len(r[i]) for r in cells)]) + 3 for i, h in enumerate(header)) + 1
    console = Console()
    Console(width=max(console.width, need)).print(table)
