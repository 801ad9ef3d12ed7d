"""Run any `PoseEstimator`s over the evaluation pairs of scene folders and collect per-pair errors.

Every model sees the same pairs in the same order: each batch of pairs is read (and corrupted) once and
given to every estimator's `estimate_batch`. Errors are those of `av_pose.metrics.pose` (degrees); an
invalid estimate (`PoseEstimate.valid` False) has NaN errors, which `pose_auc` counts as failures.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from av_pose.errors import UserInputError
from av_pose.eval.pairs import PairMeta, count_pairs, scene_pose_pairs
from av_pose.metrics.pose import evaluate_pose_pairs
from av_pose.pose.base import PoseEstimate, PoseEstimator, PosePair
from av_pose.scene.format import SceneRecord
from av_pose.vision.corruptions import CORRUPTION_KINDS, CorruptionSpec

CLEAN = 'clean'
CORRUPTED = 'corrupted'
"""Condition names: clean images, the mixed corrupted set; single corruption types keep their own name."""


@dataclass(frozen=True)
class Condition:
    """An evaluation condition: its name in reports and the image corruption (None = clean)."""

    name: str
    corruption: CorruptionSpec | None = None


def make_conditions(kinds: Iterable[str], base_seed: int = 0, severity: float | None = None) -> list[Condition]:
    """`clean` followed by one condition per corruption kind ('mixed' → `corrupted`), duplicates dropped.

    Args:
        kinds: corruption kinds from `CORRUPTION_KINDS` ('mixed', 'blur', 'noise', 'jitter').
        base_seed: base seed of every corrupted set (each scene derives its own from it).
        severity: fixed severity in [0, 1], or None to draw one per frame.
    """
    conditions = [Condition(CLEAN)]
    for kind in kinds:
        if kind not in CORRUPTION_KINDS:
            raise UserInputError(f'unknown corruption {kind!r}: choose from {", ".join(CORRUPTION_KINDS)}')
        name = CORRUPTED if kind == 'mixed' else kind
        if all(c.name != name for c in conditions):
            conditions.append(Condition(name, CorruptionSpec(kind, int(base_seed), severity)))
    return conditions


@dataclass
class PairErrors:
    """Per-pair errors of one model (degrees, NaN where undefined or the estimate is invalid), N pairs."""

    rotation_deg: np.ndarray
    translation_deg: np.ndarray
    total_deg: np.ndarray
    valid: np.ndarray
    yaw_deg: np.ndarray
    """About the camera's up axis (`metrics.pose.yaw_error_deg`)."""

    def __len__(self) -> int:
        return len(self.valid)

    def subset(self, mask: np.ndarray) -> PairErrors:
        """The pairs where the boolean `mask` (N,) is True."""
        return PairErrors(self.rotation_deg[mask], self.translation_deg[mask], self.total_deg[mask], self.valid[mask],
                          self.yaw_deg[mask])

    @classmethod
    def concatenate(cls, parts: Sequence[PairErrors]) -> PairErrors:
        """The parts one after the other."""
        if not parts:
            return cls(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0))
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ('rotation_deg', 'translation_deg', 'total_deg', 'valid', 'yaw_deg')))


def pair_errors(estimates: Sequence[PoseEstimate], T_true: np.ndarray) -> PairErrors:
    """Errors of `estimates` against ground-truth T_a_b (N×4×4); invalid estimates get NaN everywhere."""
    T_pred = np.stack([e.T_a_b for e in estimates])
    per_pair = evaluate_pose_pairs(T_pred, np.asarray(T_true))['per_pair']
    valid = np.array([bool(e.valid) for e in estimates])
    rotation, translation, total, yaw = (np.where(valid, per_pair[key], np.nan) for key in
                                         ('rotation_deg', 'translation_deg', 'total_deg', 'yaw_deg'))
    return PairErrors(rotation, translation, total, valid, yaw)


@dataclass
class ConditionResult:
    """All models on one condition: the pairs' facts and each model's errors, in the same pair order.

    `seconds` is each model's total time inside `estimate_batch` (wall clock).
    """

    condition: str
    meta: list[PairMeta]
    errors: dict[str, PairErrors]
    seconds: dict[str, float] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        """One PairMeta field over the pairs, as an array (N,)."""
        return np.array([getattr(m, name) for m in self.meta])


def condition_pairs(records: Sequence[SceneRecord], gaps_s: Sequence[float], stride: int,
                    corruption: CorruptionSpec | None, window_s: float,
                    planar_up: Sequence[float] | None = None) -> Iterator[tuple[PosePair, np.ndarray, PairMeta]]:
    """Every scene's pairs for every gap (scene by scene, gaps in the order given)."""
    for record in records:
        for gap_s in gaps_s:
            yield from scene_pose_pairs(record, gap_s, stride, corruption, window_s, planar_up)


def total_pairs(records: Sequence[SceneRecord], gaps_s: Sequence[float], stride: int = 1) -> int:
    """Number of pairs `condition_pairs` yields."""
    return sum(count_pairs(record, gap_s, stride) for record in records for gap_s in gaps_s)


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last one shorter)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def evaluate(estimators: Mapping[str, PoseEstimator], records: Sequence[SceneRecord], gaps_s: Sequence[float],
             conditions: Sequence[Condition], batch_size: int = 16, stride: int = 1, window_s: float = 1.0,
             progress: bool = True, planar_up: Sequence[float] | None = None) -> list[ConditionResult]:
    """Run every estimator on every pair of every condition.

    Args:
        estimators: display name → estimator.
        records: scenes on disk.
        gaps_s: frame gaps in seconds; each pair is made for each gap.
        conditions: from `make_conditions`.
        batch_size: pairs per `estimate_batch` call.
        stride: every `stride`-th frame starts a pair.
        window_s: audio window per frame, seconds.
        progress: show a tqdm bar (pairs × conditions) on stderr.
        planar_up: the rigs move on a level floor with this up axis (camera frame; `Sensors.planar_up`).

    Returns:
        One ConditionResult per condition, in order.
    """
    from tqdm import tqdm

    if batch_size < 1 or stride < 1 or window_s <= 0:
        raise UserInputError(f'batch size and stride must be ≥ 1 and the window positive, got {batch_size}, '
                             f'{stride}, {window_s}')
    count = total_pairs(records, gaps_s, stride)
    if count == 0:
        raise UserInputError(f'no frame pairs {", ".join(f"{g:g}" for g in gaps_s)} s apart in {len(records)} '
                             'scene(s): the scenes are shorter than the gaps')
    results = []
    with tqdm(total=count * len(conditions), unit='pair', desc='eval', disable=not progress) as bar:
        for condition in conditions:
            bar.set_postfix_str(condition.name)
            meta: list[PairMeta] = []
            parts: dict[str, list[PairErrors]] = {name: [] for name in estimators}
            seconds = dict.fromkeys(estimators, 0.0)
            for batch in batched(condition_pairs(records, gaps_s, stride, condition.corruption, window_s,
                                                 planar_up), batch_size):
                pairs, T_true, batch_meta = (list(column) for column in zip(*batch))
                for name, estimator in estimators.items():
                    start = time.perf_counter()
                    estimates = estimator.estimate_batch(pairs)
                    seconds[name] += time.perf_counter() - start
                    if len(estimates) != len(pairs):
                        raise RuntimeError(f'{name} returned {len(estimates)} estimates for {len(pairs)} pairs')
                    parts[name].append(pair_errors(estimates, np.stack(T_true)))
                meta.extend(batch_meta)
                bar.update(len(pairs))
            results.append(ConditionResult(condition.name, meta,
                                           {name: PairErrors.concatenate(p) for name, p in parts.items()}, seconds))
    return results
