"""Scenes with a hand-placed, always-active source, for tests that score DOA against ground truth."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from av_pose.scene.format import SceneRecord
from av_pose.scene.generate import SynthConfig, generate_scene, sample_layout, scene_rng
from av_pose.scene.signals import SourceSpec


def scene_with_static_talker(out_dir: Path, config: SynthConfig, seed: int, distance_m: float = 1.5,
                             start_s: float = 0.0) -> SceneRecord:
    """A random room and rig path with one talker, active from `start_s` on, `distance_m` from the rig's start.

    The talker stands towards the farthest room corner (at least 2 m away for the smallest rooms), at ear height.
    """
    layout = sample_layout(config, scene_rng(seed, 0))
    rig = layout.trajectory.pose_at(0.0)[:3, 3]
    size = np.asarray(layout.room.size_m)
    corners = np.array([[x, y] for x in (0.0, size[0]) for y in (0.0, size[1])])
    farthest = corners[np.argmax(np.linalg.norm(corners - rig[:2], axis=1))]
    direction = (farthest - rig[:2]) / np.linalg.norm(farthest - rig[:2])
    position = np.array([*(rig[:2] + distance_m * direction), rig[2]])
    talker = SourceSpec('speech', position, start_s=start_s, end_s=config.duration_s)
    return generate_scene(out_dir, config, seed, layout=replace(layout, sources=(talker,)))
