"""Draw one AUC bar chart from several `av-pose eval --json` reports evaluated on the same pairs.

Usage: python tools/plot_auc_bars.py OUT.png REPORT.json [REPORT.json ...]
Models are taken in order; a model in a later report replaces the same name in an earlier one (a re-evaluation).
Table 1's models were evaluated in separate runs with the same command, pairs and corruption seed
(docs/results/table1/pose_eval*.json); this puts them in one chart.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from av_pose.eval.report import plot_auc_bars


def merged_report(paths: list[str]) -> tuple[dict, list[str]]:
    """({'models': {...}} with every report's models, later ones replacing earlier), conditions in first-seen order."""
    models: dict[str, dict] = {}
    conditions: list[str] = []
    for path in paths:
        for name, by_condition in json.loads(Path(path).read_text())['models'].items():
            models.pop(name, None)
            models[name] = by_condition
            conditions += [c for c in by_condition if c not in conditions]
    return {'models': models}, conditions


def main(argv: list[str]) -> int:
    """OUT.png REPORT.json [...] → the chart; 2 (with the usage line) when the arguments are missing."""
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    report, conditions = merged_report(argv[1:])
    print(plot_auc_bars(report, conditions, argv[0]))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
