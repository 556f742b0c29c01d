"""The task table's timeline chart."""

from __future__ import annotations

from assistant.tasktable import timeline


def test_timeline_counts_tasks_per_month_with_undated_apart():
    rows = [{"due_end": "2026-03-31"}, {"due_end": "2026-03-15"}, {"due_end": "2026-09-30"}, {"due_end": ""}]
    fig = timeline(rows)
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["2026/03", "2026/09", "không hạn"] and heights == [2, 1, 1]
    assert len(timeline([]).axes[0].patches) == 0
