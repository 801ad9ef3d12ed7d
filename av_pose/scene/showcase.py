"""The demo's ShoeboxAV scene: everything av_pose handles, in one recording.

The rig walks a slow arc (translation) while its yaw sweeps back and forth (rotation); babble (four talkers)
plays throughout and a second source (music) stops for a while and comes back (the sound field changes while
the rig moves: the audio yaw must refuse those pairs); and for a stretch every frame is heavily blurred
(vision fails: the audio yaw must carry the rotation). Times scale with `duration_s`, so a short smoke run
keeps every part. The blurred interval and the silence are stored in scene.json under `showcase`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from av_pose.audio.arrays import MicArray, load_array
from av_pose.errors import UserInputError
from av_pose.scene.format import SceneRecord, write_scene
from av_pose.scene.generate import SceneLayout, SynthConfig, render_scene, scene_rng
from av_pose.scene.room import Room
from av_pose.scene.signals import SourceSpec
from av_pose.scene.trajectory import Trajectory
from av_pose.vision.corruptions import CorruptionSpec

ARC_RADIUS_M = 1.0
ARC_SPEED_M_S = 0.2
YAW_SWEEP_DEG = 20.0
YAW_SWEEP_PERIOD_S = 8.0
CAMERA_HEIGHT_M = 1.5
SOURCE_DISTANCE_M = 2.2
BLUR = (0.38, 0.55)
"""Blurred stretch, as fractions of the duration."""
SILENCE = (0.62, 0.8)
"""When the second source is silent, as fractions of the duration."""


@dataclass(frozen=True)
class Showcase:
    """The showcase scene on disk and its scripted events (seconds of scene time)."""

    record: SceneRecord
    blur_s: tuple[float, float]
    silence_s: tuple[float, float]


def showcase_trajectory(center_m: np.ndarray, duration_s: float, rng: np.random.Generator) -> Trajectory:
    """An arc of radius ARC_RADIUS_M about `center_m` at ARC_SPEED_M_S, facing along it with a yaw sweep.

    Control points every second (x, y, z, yaw, pitch, roll); starts at a random angle on the circle.
    """
    start = rng.uniform(-np.pi, np.pi)
    times = np.arange(int(np.ceil(duration_s)) + 3) - 1.0
    angle = start + ARC_SPEED_M_S / ARC_RADIUS_M * times
    x = center_m[0] + ARC_RADIUS_M * np.cos(angle)
    y = center_m[1] + ARC_RADIUS_M * np.sin(angle)
    sweep = np.radians(YAW_SWEEP_DEG) * np.sin(2 * np.pi * times / YAW_SWEEP_PERIOD_S)
    yaw = angle + np.pi / 2 + sweep
    points = np.stack([x, y, np.full_like(x, CAMERA_HEIGHT_M), yaw, np.zeros_like(x), np.zeros_like(x)], axis=1)
    return Trajectory(points, 1.0)


def showcase_layout(duration_s: float, rng: np.random.Generator) -> SceneLayout:
    """Room (middle kept free of furniture), the arc trajectory, a talker and music that pauses, ambient noise."""
    room = Room.random(rng, size_range_m=((6.0, 7.0), (5.0, 6.0), (2.7, 3.0)), max_boxes=2,
                       rt60_range_s=(0.25, 0.35), clear_radius_m=2.0)
    center = np.asarray(room.center_m)
    trajectory = showcase_trajectory(center, duration_s, rng)
    positions = []
    for base_deg in (35.0, 215.0):
        for turn in range(18):  # first free spot, turning away from furniture
            azimuth = np.radians(base_deg + 20.0 * turn)
            point = center + np.array([SOURCE_DISTANCE_M * np.cos(azimuth), SOURCE_DISTANCE_M * np.sin(azimuth), 0.0])
            point[2] = 1.6
            if room.is_free(point, 0.4):
                positions.append(point)
                break
        else:
            raise UserInputError('no free place for a showcase source in this room; try another seed')
    silence = (SILENCE[0] * duration_s, SILENCE[1] * duration_s)
    sources = (SourceSpec('babble', positions[0], start_s=0.0, end_s=duration_s, name='talkers'),
               SourceSpec('music', positions[1], start_s=0.0, end_s=silence[0], gain_db=-3.0, name='music'),
               SourceSpec('music', positions[1], start_s=silence[1], end_s=duration_s, gain_db=-3.0, name='music'),
               SourceSpec('ambient', None, end_s=duration_s, gain_db=-25.0))
    return SceneLayout(room, trajectory, sources)


def generate_showcase(out_dir: str | Path, duration_s: float = 24.0, seed: int = 7,
                      array: MicArray | str = 'respeaker6', image_size: tuple[int, int] = (192, 144),
                      fps: float = 10.0, on_frame: Callable[[], None] | None = None) -> Showcase:
    """Render the showcase scene into `out_dir` (a scene folder); frames in the blurred stretch are blurred.

    Blur: `CorruptionSpec('blur', severity=1.0)` on every frame whose time is in [BLUR[0], BLUR[1]) × duration.
    `on_frame` is called after each rendered frame (progress bars).
    """
    if duration_s < 6.0:
        raise UserInputError(f'the showcase needs at least 6 s, got {duration_s:g}')
    array = load_array(array) if isinstance(array, str) else array
    config = SynthConfig(duration_s=duration_s, fps=fps, image_size=image_size, array=array, num_sources=2)
    rng = scene_rng(seed, 0)
    layout = showcase_layout(duration_s, rng)
    record, frames, audio = render_scene(config, layout, rng, seed, 0, on_frame)
    blur = (BLUR[0] * duration_s, BLUR[1] * duration_s)
    spec = CorruptionSpec('blur', base_seed=int(seed), severity=1.0)

    def blurred() -> Iterator[np.ndarray]:
        for index, (t, frame) in enumerate(zip(record.frame_times_s, frames)):
            yield spec.apply(frame, index)[0] if blur[0] <= t < blur[1] else frame

    silence = (SILENCE[0] * duration_s, SILENCE[1] * duration_s)
    record = replace(record, extra={**record.extra, 'showcase': {'blur_s': list(blur), 'silence_s': list(silence)}})
    return Showcase(write_scene(out_dir, record, blurred(), audio), blur, silence)
