"""docs/benchmark.md holds what `make bench` measured, in the blocks tools/bench_report.py writes; nothing else there is
a figure the bench measures. (The figures themselves change with the code; these tests check the blocks' shape.)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT
from tools import bench_report

DOC = ROOT / "docs" / "benchmark.md"
PROFILES = ["fixed-60s", "tiered", "events", "events-10%-lost", "events-all-lost"]
CASES = ["Instant Retrieval", "Flexible, Expedited", "Flexible, Standard", "Flexible, Bulk", "Deep Archive, Standard", "Deep Archive, Bulk"]
SCENARIOS = ["batch-100", "batch-50", "singles-50"]
NUMBER = r"-?[\d,]+(\.\d+)?"


def tables(block: str) -> list[list[list[str]]]:
    """Every markdown table of a block, as rows of cells (the header first, the |---| line left out)."""
    found: list[list[list[str]]] = []
    previous = ""
    for line in block.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if previous.startswith("|"):
                found[-1].append(cells)
            else:
                found.append([cells])
        previous = line
    return found


def measured_line(block: str) -> None:
    first = block.splitlines()[0]
    assert re.fullmatch(r"Written by `make bench` on \d{4}-\d\d-\d\d \(\d+ CPUs\): \d+ (runs|scenarios) in \d+ s; .+\.", first), first


def test_the_single_block_holds_the_profile_and_class_tables() -> None:
    # Given the page / When its bench:single block is read
    block = bench_report.read_block(DOC.read_text(), "single")
    measured_line(block)
    by_profile, by_case = tables(block)
    # Then it holds the two tables tools/bench.py writes: one row per profile, one per class and tier, every cell a figure
    assert by_profile[0] == bench_report.PROFILE_HEAD and [row[0] for row in by_profile[1:]] == PROFILES
    assert by_case[0] == bench_report.CASE_HEAD and [row[0] for row in by_case[1:]] == CASES
    for row in by_profile[1:]:
        assert re.fullmatch(r"\d+ / 24", row[1]), row
        assert all(re.fullmatch(rf"{NUMBER}( %| s)?", cell) for cell in row[2:]), row
    for row in by_case[1:]:
        assert all(re.fullmatch(rf"({NUMBER}|-)( / ({NUMBER}|-))?(, ({NUMBER}|-))?", cell) for cell in row[1:]), row
    assert "- Transitions of fixed-60s against events on the same world:" in block


def test_the_batch_block_holds_the_scenario_table() -> None:
    block = bench_report.read_block(DOC.read_text(), "batch")
    measured_line(block)
    [scenarios] = tables(block)
    assert scenarios[0] == bench_report.BATCH_HEAD and [row[0] for row in scenarios[1:]] == SCENARIOS
    for row in scenarios[1:]:
        assert all(re.fullmatch(rf"({NUMBER}|-)( / {NUMBER})?( \({NUMBER}\))?", cell) for cell in row[1:]), row
    assert "- batch-50 against singles-50:" in block


def test_the_archive_block_holds_both_scenarios() -> None:
    block = bench_report.read_block(DOC.read_text(), "archive")
    measured_line(block)
    [scenarios] = tables(block)
    assert [row[0] for row in scenarios[1:]] == ["budget-1200", "budget-5000"]


def test_the_page_has_each_block_once() -> None:
    text = DOC.read_text()
    for name in ("single", "batch", "archive"):
        assert (text.count(f"<!-- bench:{name}:begin -->"), text.count(f"<!-- bench:{name}:end -->")) == (1, 1)


# --- tools/bench_report.py ---------------------------------------------------------------------------------------------


@dataclass
class Run:  # the fields tools/bench.py's Row has that the report reads
    profile: str
    storage_class: str
    tier: str
    sample: int
    restore_s: float
    status: str
    error: str
    transitions: int
    history_events: int
    restore_lag_s: float | None
    image_lag_s: float | None
    restore_event_delay_s: float | None
    cost_usd: float


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def test_write_single_replaces_only_its_block(tmp_path: Path) -> None:
    # Given a page with prose around both blocks, and two runs (events and fixed-60s) of one Flexible Standard sample
    doc = tmp_path / "benchmark.md"
    prose = "# Title\n\nBefore.\n\n<!-- bench:single:begin -->\nold figures\n<!-- bench:single:end -->\n\nBetween.\n\n"
    batch = "<!-- bench:batch:begin -->\nbatch figures\n<!-- bench:batch:end -->\n\nAfter.\n"
    doc.write_text(prose + batch)
    runs = [
        Run("events", "GLACIER", "Standard", 0, 14_400, "SUCCEEDED", "", 30, 120, 5.0, 12.0, 5.0, 0.0007),
        Run("fixed-60s", "GLACIER", "Standard", 0, 14_400, "SUCCEEDED", "", 600, 2_400, 30.0, 40.0, None, 0.02),
    ]
    # When the report is written twice
    for _ in range(2):
        bench_report.write_single(runs, ["fixed-60s", "events"], [("GLACIER", "Standard")], p95, 12.3, [], doc=doc)
    # Then the prose and the other block are as they were, and the block holds the figures of these runs
    text = doc.read_text()
    assert text.startswith("# Title\n\nBefore.\n\n<!-- bench:single:begin -->\nWritten by `make bench` on ")
    assert text.endswith("<!-- bench:single:end -->\n\nBetween.\n\n" + batch)
    block = bench_report.read_block(text, "single")
    assert "| fixed-60s | 1 / 1 | 0.2 % | 30 s | 600 | 2,400 | 0.0200 |" in block
    assert "| events | 1 / 1 | 0.0 % | 0 s | 30 | 120 | 0.0007 |" in block
    assert "| Flexible, Standard | 5 / 12, 30 | - / -, - | - | 600, 2,400 |" in block  # (only two profiles ran here)
    assert "12 s; all targets met." in block.splitlines()[0]
    assert "- Transitions of fixed-60s against events on the same world: 20.0x to 20x, median 20x." in block


def test_a_page_without_its_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="must each appear once"):
        bench_report.replace_block("no markers here\n", "single", "figures")
    with pytest.raises(ValueError, match="must each appear once"):
        bench_report.replace_block("<!-- bench:single:end -->\n<!-- bench:single:begin -->\n", "single", "figures")


def test_the_benchmarks_summary_never_prints_minus_zero() -> None:
    from tools.bench import spread

    # Given lags a tenth of a second below zero (the lag and the event's delay are each rounded to 0.1 s)
    # Then they read 0, not -0; others round to whole seconds (mean 11.4; the p95 of three values is the highest)
    assert (spread([-0.1, -0.2, -0.1]), spread([1.4, 2.6, 30.2]), spread([])) == ("0 / 0 / 0", "11 / 30 / 30", "-")
