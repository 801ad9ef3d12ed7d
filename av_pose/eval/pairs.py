"""Evaluation pairs from scene folders: a `PosePair`, its ground truth and facts about it, clean or corrupted.

`scene_pose_pairs` is the one place that turns a `SceneRecord` into `PosePair`s (used by `av-pose eval`,
`av-pose bench pose` and the demo). Ground truth `T_a_b` = inv(T_world_a)·T_world_b maps camera-b points
into camera a (OpenCV optical frames); a is the earlier frame.

Corrupted sets follow `av_pose.vision.corruptions.CorruptionSpec`: both images of a pair are corrupted, frame i
of a scene with the seed [scene base seed, i], where the scene base seed is drawn from the spec's base seed and
the scene's folder name (`scene_corruption`), so every frame is corrupted the same way in every pair, run and
process. Audio is never changed.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from av_pose.data.pairs import pair_frame_indices
from av_pose.geometry import relative_pose, rotation_angle_deg
from av_pose.pose.base import PosePair, View
from av_pose.pose.sequence import recording_sensors
from av_pose.scene.activity import sound_changes
from av_pose.scene.format import SceneRecord
from av_pose.vision.corruptions import CorruptionSpec

STILL_ROTATION_DEG = 1.0
"""A pair whose ground-truth rotation is below this (degrees) ..."""
STILL_TRANSLATION_M = 0.05
"""... and whose camera moved less than this (metres) was taken by a still camera."""


@dataclass(frozen=True)
class PairMeta:
    """Facts about one evaluation pair that the report groups by.

    Attributes:
        scene: scene folder name. frame_a, frame_b: frame indices (a earlier). t_a, t_b: frame times (s).
        gap_s: the gap that was asked for (s; the pair's real gap t_b − t_a is snapped to the frames).
        rotation_deg: ground-truth rotation angle between the two cameras (degrees).
        translation_m: ground-truth distance between the two camera centres (metres).
        camera_still: rotation < STILL_ROTATION_DEG and translation < STILL_TRANSLATION_M.
        sound_change: a source active in one audio window and not in the other (`sound_changes`).
    """

    scene: str
    frame_a: int
    frame_b: int
    t_a: float
    t_b: float
    gap_s: float
    rotation_deg: float
    translation_m: float
    camera_still: bool
    sound_change: bool


def scene_corruption(spec: CorruptionSpec, record: SceneRecord) -> CorruptionSpec:
    """`spec` with a base seed of its own for this scene, fixed by (spec.base_seed, the scene folder name)."""
    digest = hashlib.sha256(f'{int(spec.base_seed)}:{record.name}'.encode()).digest()
    return replace(spec, base_seed=int.from_bytes(digest[:4], 'big'))


def count_pairs(record: SceneRecord, gap_s: float, stride: int = 1) -> int:
    """Number of pairs `scene_pose_pairs(record, gap_s, stride)` yields."""
    return len(pair_frame_indices(record.frame_times_s, gap_s, stride))


def scene_pose_pairs(record: SceneRecord, gap_s: float, stride: int = 1, corruption: CorruptionSpec | None = None,
                     window_s: float = 1.0, planar_up: Sequence[float] | None = None,
                     ) -> Iterator[tuple[PosePair, np.ndarray, PairMeta]]:
    """Frame pairs about `gap_s` apart (`av_pose.data.pairs.pair_frame_indices`) of one scene.

    Args:
        record: a scene on disk (`read_scene`).
        gap_s: time between the frames, seconds (snapped to the frame times).
        stride: every `stride`-th frame starts a pair.
        corruption: corrupt both images (`scene_corruption(corruption, record)` seeds frame i), or None.
        window_s: audio window centred on each frame, seconds.
        planar_up: the rig moves on a level floor with this up axis (camera frame; `Sensors.planar_up`).

    Yields:
        (PosePair with H×W×3 uint8 images and C×N float32 audio windows, ground-truth T_a_b 4×4, PairMeta).
    """
    sensors = recording_sensors(record, planar_up)
    spec = scene_corruption(corruption, record) if corruption is not None else None
    views: dict[int, View] = {}  # frames still needed by later pairs (anchors only move forward)

    def view(index: int) -> View:
        if index not in views:
            image = record.frame(index)
            if spec is not None:
                image = spec.apply(image, index)[0]
            stamp_s = float(record.frame_times_s[index])
            audio, coverage = record.audio_window(stamp_s, window_s)
            views[index] = View(stamp_s=stamp_s, image=image, audio=audio, audio_coverage=float(coverage))
        return views[index]

    for i, j in pair_frame_indices(record.frame_times_s, gap_s, stride):
        for old in [k for k in views if k < i]:
            del views[old]
        T_a_b = relative_pose(record.T_world_cam[i], record.T_world_cam[j])
        rotation_deg = float(rotation_angle_deg(np.eye(3), T_a_b[:3, :3]))
        translation_m = float(np.linalg.norm(T_a_b[:3, 3]))
        t_a, t_b = float(record.frame_times_s[i]), float(record.frame_times_s[j])
        meta = PairMeta(scene=record.name, frame_a=i, frame_b=j, t_a=t_a, t_b=t_b, gap_s=float(gap_s),
                        rotation_deg=rotation_deg, translation_m=translation_m,
                        camera_still=rotation_deg < STILL_ROTATION_DEG and translation_m < STILL_TRANSLATION_M,
                        sound_change=sound_changes(record, t_a, t_b, window_s))
        yield PosePair(view(i), view(j), sensors), T_a_b, meta
