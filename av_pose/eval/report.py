"""Reports of an evaluation: the JSON summary, Markdown tables in the paper's layout, and PNG plots.

JSON (`build_report`): {"models": {MODEL: {CONDITION: summary}}}, where a summary holds
"rotation_auc", "translation_auc", "total_auc" ([AUC@5, @10, @20] as fractions in [0, 1]; invalid estimates
and undefined errors count as failures), "rotation_mae_deg" (SLfM: mean per-pair rotation error over the valid
estimates), "rotation_median_deg", "translation_median_deg", "yaw_median_deg" (about the camera's up axis),
"failed" (invalid estimates), "pairs", and the breakdowns "by_motion" (ground-truth rotation 0–5, 5–10, 10–20,
20+°), "by_travel" (camera travel 0–0.1, 0.1–0.3, 0.3+ m), "by_gap" (per requested frame gap, keyed like
"0.5"), "sound_change" (camera still while a source starts or stops) and, with several models,
"on_reference_failures" (the pairs where the FIRST model fails: invalid or rotation error > 10°; its "pairs",
"failed", "rotation_median_deg", "yaw_median_deg" and "yaw_median_all_deg", which counts failures as 180°), and
"seconds_per_pair" (wall time inside `estimate_batch`).
Numbers that do not exist (a mean over no pairs) are null.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from av_pose.eval.run import CLEAN, CORRUPTED, ConditionResult, PairErrors
from av_pose.metrics.pose import AUC_THRESHOLDS_DEG, pose_auc

MOTION_BINS_DEG = ((0.0, 5.0), (5.0, 10.0), (10.0, 20.0), (20.0, math.inf))
"""Ground-truth rotation bins (degrees, [low, high)) of the per-motion breakdown."""
TRAVEL_BINS_M = ((0.0, 0.1), (0.1, 0.3), (0.3, math.inf))
"""Camera travel between the two frames (metres, [low, high)) of the per-travel breakdown: near sources shift
the audio yaw by parallax as the camera travels."""
REFERENCE_FAILURE_DEG = 10.0
"""The reference model fails on a pair when its estimate is invalid or its rotation error exceeds this."""
ERROR_KINDS = ('rotation', 'translation', 'total')


def bin_label(low: float, high: float) -> str:
    """'0-5', ..., '20+' for a bin [low, high) (degrees of rotation, metres of travel)."""
    return f'{low:g}+' if math.isinf(high) else f'{low:g}-{high:g}'


def _by_bins(errors: PairErrors, values: np.ndarray, bins: Sequence[tuple[float, float]]) -> dict:
    """{label: summary} of the pairs whose `values` (N,) fall in each bin [low, high)."""
    return {bin_label(low, high): summarise(errors.subset((values >= low) & (values < high))) for low, high in bins}


def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def summarise(errors: PairErrors) -> dict:
    """The summary of a set of pairs (keys in the module docstring); AUCs and means are null for no pairs."""
    count = len(errors)
    rotation = errors.rotation_deg[errors.valid]
    translation = errors.translation_deg[errors.valid & np.isfinite(errors.translation_deg)]
    summary: dict = {}
    for kind in ERROR_KINDS:
        values = getattr(errors, f'{kind}_deg')
        summary[f'{kind}_auc'] = list(pose_auc(values).values()) if count else None
    summary.update({
        'rotation_mae_deg': _finite_or_none(np.mean(rotation)) if rotation.size else None,
        'rotation_median_deg': _finite_or_none(np.median(rotation)) if rotation.size else None,
        'translation_median_deg': _finite_or_none(np.median(translation)) if translation.size else None,
        'yaw_median_deg': _finite_or_none(np.median(errors.yaw_deg[errors.valid])) if rotation.size else None,
        'failed': int(np.count_nonzero(~errors.valid)),
        'pairs': int(count),
    })
    return summary


def reference_failures(errors: PairErrors) -> np.ndarray:
    """Mask (N,) of the pairs a model fails: invalid estimate or rotation error > REFERENCE_FAILURE_DEG."""
    return ~errors.valid | (np.nan_to_num(errors.rotation_deg, nan=np.inf) > REFERENCE_FAILURE_DEG)


def condition_summary(result: ConditionResult, model: str, reference: str | None = None) -> dict:
    """The summary of `model` on one condition with its breakdowns (and `on_reference_failures` if given)."""
    errors = result.errors[model]
    summary = summarise(errors)
    if model in result.seconds and len(errors):
        summary['seconds_per_pair'] = result.seconds[model] / len(errors)
    summary['by_motion'] = _by_bins(errors, result.column('rotation_deg'), MOTION_BINS_DEG)
    summary['by_travel'] = _by_bins(errors, result.column('translation_m'), TRAVEL_BINS_M)
    gaps = result.column('gap_s')
    summary['by_gap'] = {f'{gap:g}': summarise(errors.subset(gaps == gap)) for gap in dict.fromkeys(gaps.tolist())}
    summary['sound_change'] = summarise(errors.subset(result.column('camera_still') & result.column('sound_change')))
    if reference is not None:
        subset = errors.subset(reference_failures(result.errors[reference]))
        rotation, yaw = subset.rotation_deg[subset.valid], subset.yaw_deg[subset.valid]
        summary['on_reference_failures'] = {
            'reference': reference, 'pairs': len(subset), 'failed': int(np.count_nonzero(~subset.valid)),
            'rotation_median_deg': _finite_or_none(np.median(rotation)) if rotation.size else None,
            'yaw_median_deg': _finite_or_none(np.median(yaw)) if yaw.size else None,
            'yaw_median_all_deg': _finite_or_none(np.median(np.where(subset.valid, subset.yaw_deg, 180.0)))
            if len(subset) else None}
    return summary


def build_report(results: Sequence[ConditionResult]) -> dict:
    """{"models": {model: {condition: summary}}}: models in the order given, conditions in run order."""
    models = list(results[0].errors) if results else []
    reference = models[0] if len(models) > 1 else None
    return {'models': {model: {result.condition: condition_summary(result, model, reference) for result in results}
                       for model in models}}


# --- Markdown -------------------------------------------------------------------------------------------

def _percent(value: float | None) -> str:
    return '–' if value is None else f'{100.0 * value:.1f}'


def _degrees(value: float | None) -> str:
    return '–' if value is None else f'{value:.2f}'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return lines + ['| ' + ' | '.join(row) + ' |' for row in rows]


def _auc_table(report: dict, conditions: Sequence[str]) -> list[str]:
    thresholds = [f'@{t:g}' for t in AUC_THRESHOLDS_DEG]
    short = {'rotation': 'rot.', 'translation': 'transl.', 'total': 'total'}
    header = ['model', 'condition', 'pairs'] + [f'{short[kind]} AUC{t}' for kind in ERROR_KINDS for t in thresholds] \
        + ['rot. MAE °', 'rot. median °', 'failed']
    rows = []
    for model, by_condition in report['models'].items():
        for condition in conditions:
            s = by_condition[condition]
            aucs = [_percent(v) for kind in ERROR_KINDS for v in (s[f'{kind}_auc'] or [None] * len(thresholds))]
            rows.append([model, condition, str(s['pairs']), *aucs, _degrees(s['rotation_mae_deg']),
                         _degrees(s['rotation_median_deg']), str(s['failed'])])
    return _table(header, rows)


def _breakdown_table(report: dict, key: str, first_column: str) -> list[str]:
    """Rotation AUC@10 (%) / MAE (°) (pairs) per bin of `key` ('by_motion', 'by_gap'; 'by_travel': yaw median °)."""
    bins = list(dict.fromkeys(b for by_condition in report['models'].values() for s in by_condition.values()
                              for b in s[key]))
    at_10 = list(AUC_THRESHOLDS_DEG).index(10.0)
    rows = []
    for model, by_condition in report['models'].items():
        for condition, s in by_condition.items():
            cells = []
            for name in bins:
                part = s[key].get(name)
                if not part or not part['pairs']:
                    cells.append('–')
                    continue
                first = _degrees(part.get('yaw_median_deg')) if key == 'by_travel' \
                    else _percent(part['rotation_auc'][at_10])
                cells.append(f'{first} / {_degrees(part["rotation_mae_deg"])} ({part["pairs"]})')
            rows.append([model, condition, *cells])
    return _table(['model', 'condition', *[f'{first_column} {b}' for b in bins]], rows)


def markdown_report(report: dict, description: str = '') -> str:
    """The report as Markdown: Table 1 (clean/corrupted), Table 3 (per corruption), breakdowns, subsets."""
    models = report['models']
    conditions = list(dict.fromkeys(c for by_condition in models.values() for c in by_condition))
    main = [c for c in conditions if c in (CLEAN, CORRUPTED)]
    single = [c for c in conditions if c not in (CLEAN, CORRUPTED)]
    lines = ['# Relative pose evaluation', '']
    if description:
        lines += [description, '']
    lines += ['AUC in %, errors in degrees; invalid estimates count as failures in the AUCs and are left out of '
              'MAE/median (column "failed").', '', '## Table 1: clean and corrupted', '']
    lines += _auc_table(report, main)
    if single:
        lines += ['', '## Table 3: per corruption type', ''] + _auc_table(report, [CLEAN, *single])
    lines += ['', '## By ground-truth rotation (rotation AUC@10 % / MAE ° (pairs))', '']
    lines += _breakdown_table(report, 'by_motion', 'rotation')
    if all('by_travel' in s for by_condition in models.values() for s in by_condition.values()):
        lines += ['', '## By camera travel between the frames in metres (yaw median ° / rotation MAE ° (pairs))', '']
        lines += _breakdown_table(report, 'by_travel', 'travel')
    lines += ['', '## By frame gap in seconds (rotation AUC@10 % / MAE ° (pairs))', '']
    lines += _breakdown_table(report, 'by_gap', 'gap')
    lines += ['', '## A source starts or stops while the camera is still', '']
    rows = [[model, condition, str(s['sound_change']['pairs']), _percent((s['sound_change']['rotation_auc']
                                                                          or [None] * 3)[1]),
             _degrees(s['sound_change']['rotation_mae_deg']), _degrees(s['sound_change']['rotation_median_deg']),
             str(s['sound_change']['failed'])]
            for model, by_condition in models.items() for condition, s in by_condition.items()]
    lines += _table(['model', 'condition', 'pairs', 'rot. AUC@10', 'rot. MAE °', 'rot. median °', 'failed'], rows)
    if len(models) > 1:
        reference = next(iter(models))
        lines += ['', f'## On the pairs where {reference} fails (invalid or rotation error > '
                      f'{REFERENCE_FAILURE_DEG:g}°)', '']
        rows = [[model, condition, str(f['pairs']), _degrees(f['rotation_median_deg']),
                 _degrees(f.get('yaw_median_deg')), _degrees(f.get('yaw_median_all_deg')), str(f['failed'])]
                for model, by_condition in models.items() for condition, s in by_condition.items()
                for f in [s['on_reference_failures']]]
        lines += _table(['model', 'condition', 'pairs', 'rot. median °', 'yaw median °',
                         'yaw median °, failed = 180°', 'failed'], rows)
    return '\n'.join(lines) + '\n'


# --- plots ----------------------------------------------------------------------------------------------

def _short(name: str, width: int = 24) -> str:
    name = Path(name).name or name
    return name if len(name) <= width else name[:width - 1] + '…'


def _grouped_bars(ax, groups: Sequence[str], series: dict[str, Sequence[float]], ylabel: str) -> None:
    """Bars of each series (a colour each) side by side within each group."""
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for k, (label, values) in enumerate(series.items()):
        heights = [np.nan if v is None else v for v in values]
        ax.bar(x + (k - (len(series) - 1) / 2) * width, heights, width, label=label)
    ax.set_xticks(x, [_short(g) for g in groups], fontsize=8, rotation=40 if len(groups) > 4 else 0,
                  ha='right' if len(groups) > 4 else 'center')
    ax.set_ylabel(ylabel, fontsize=8)


def plot_auc_bars(report: dict, conditions: Sequence[str], path: str | Path) -> Path:
    """PNG of rotation / translation / total AUC@5/10/20 per model (bars) and condition (colours).

    `report` as `av-pose eval --json` writes it: {"models": {NAME: {CONDITION: {"rotation_auc": [a5, a10, a20],
    ...}}}}; a model without a condition gets no bar there.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from av_pose.viz import save_png

    models = list(report['models'])
    fig, axes = plt.subplots(len(ERROR_KINDS), len(AUC_THRESHOLDS_DEG), figsize=(max(12, 1.1 * len(models)), 8),
                             dpi=100, squeeze=False)
    for row, kind in enumerate(ERROR_KINDS):
        for column, threshold in enumerate(AUC_THRESHOLDS_DEG):
            series = {c: [((report['models'][m].get(c) or {}).get(f'{kind}_auc') or [None] * 3)[column]
                          for m in models] for c in conditions}
            _grouped_bars(axes[row, column], models, series, f'{kind} AUC@{threshold:g}')
            axes[row, column].set_ylim(0, 1)
    axes[0, -1].legend(fontsize=8)
    fig.suptitle('Relative pose AUC per model and condition')
    return save_png(fig, path)


def write_plots(results: Sequence[ConditionResult], report: dict, out_dir: str | Path) -> list[Path]:
    """auc_bars.png (AUC per model and condition), error_cdf.png (error CDFs), breakdown.png (MAE by motion/gap)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from av_pose.viz import save_png

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = list(report['models'])
    conditions = [r.condition for r in results]
    written = []

    written.append(plot_auc_bars(report, conditions, out_dir / 'auc_bars.png'))

    fig, axes = plt.subplots(2, len(results), figsize=(4.5 * len(results), 7), dpi=100, squeeze=False)
    grid = np.linspace(0.0, 45.0, 451)
    for column, result in enumerate(results):
        for row, kind in enumerate(('rotation', 'translation')):
            ax = axes[row, column]
            for model in models:
                errors = np.nan_to_num(getattr(result.errors[model], f'{kind}_deg'), nan=np.inf)
                recall = np.searchsorted(np.sort(errors), grid, side='right') / max(1, len(errors))
                ax.plot(grid, recall, label=_short(model))
            ax.set(xlabel=f'{kind} error [deg]', ylabel='fraction of pairs', ylim=(0, 1.02), xlim=(0, 45),
                   title=f'{result.condition} ({len(result.meta)} pairs)')
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    written.append(save_png(fig, out_dir / 'error_cdf.png'))

    fig, axes = plt.subplots(len(results), 2, figsize=(11, 3.2 * len(results)), dpi=100, squeeze=False)
    for row, condition in enumerate(conditions):
        for column, (key, label) in enumerate((('by_motion', 'ground-truth rotation [deg]'),
                                               ('by_gap', 'frame gap [s]'))):
            bins = list(report['models'][models[0]][condition][key])
            series = {_short(m): [report['models'][m][condition][key][b]['rotation_mae_deg'] for b in bins]
                      for m in models}
            ax = axes[row, column]
            _grouped_bars(ax, bins, series, 'rotation MAE [deg]')
            ax.set(xlabel=label, title=condition)
    axes[0, 0].legend(fontsize=8)
    written.append(save_png(fig, out_dir / 'breakdown.png'))
    return written
