"""`raydd results report`: one self-contained HTML page over result rows (no server, no network).

The page holds the paper-style table exactly as `results show` renders it, a sortable and filterable
leaderboard per dataset and ipc, the figures of `results plot` and each set's contact sheet (as
`results images` draws it), every image embedded as a data: URI and the CSS and JavaScript inline.
"""

from raydd.results.report.output import GENERATOR, check_can_replace, write_report
from raydd.results.report.page import build_report

__all__ = ["GENERATOR", "build_report", "check_can_replace", "write_report"]
