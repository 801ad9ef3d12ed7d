"""ShoeboxAV scene generation: a random room, rig trajectory and sound sources → a scene folder.

Everything is drawn from `numpy.random.SeedSequence([seed, index])`, so a scene's bytes depend only on the
seed, its index and the configuration (not on the number of workers).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from av_pose.audio.arrays import MicArray, load_array
from av_pose.errors import UserInputError
from av_pose.geometry import array_mount
from av_pose.scene.acoustics import array_pose_fn, render_array_audio
from av_pose.scene.activity import source_levels
from av_pose.scene.ambisonic import source_signals
from av_pose.scene.camera import PinholeCamera
from av_pose.scene.format import SceneRecord, write_scene
from av_pose.scene.raycast import RoomRenderer
from av_pose.scene.room import Room
from av_pose.scene.signals import SourceSpec
from av_pose.scene.trajectory import Trajectory, frame_count, random_trajectory
from av_pose.vision.lens import LensDistortion

POINT_SOURCE_KINDS = ('speech', 'babble', 'music', 'impulses', 'pink')
RENDERERS = ('ism', 'ambisonic')


@dataclass(frozen=True)
class SynthConfig:
    """What every generated scene shares.

    Attributes:
        duration_s: Scene length, seconds.
        fps: Video frame rate, Hz.
        image_size: (W, H) pixels.
        hfov_deg: Horizontal field of view of the pinhole camera, degrees.
        distortion: The camera's lens (None: an ideal pinhole): frames are rendered through it and scene.json
            records it, so readers undistort them (`SceneRecord.frame`).
        array: The microphone array on the rig.
        sample_rate: Audio rate, Hz; None = the array's native rate, else 16000.
        rotation_only: Rig only rotates (the SLfM setting) instead of moving in 6-DoF.
        ground_robot: Rig moves as a robot on the floor: planar motion at one height, no pitch or roll.
        differential_drive: Rig moves as a differential-drive robot on the floor: planar, travelling along its
            heading (the camera's forward axis), turning in place where blocked (trajectory mode 'drive').
        num_sources: Point sources per scene (plus a quiet diffuse ambient bed).
        moving_share: Probability that a point source walks (0 = all static).
        source_kinds: Signal kinds the point sources are drawn from (`POINT_SOURCE_KINDS` by default). The random
            draws are the same whichever kinds are allowed, so a seed keeps its rooms, paths and positions: the
            draw over the five default kinds picks kinds[draw mod len(kinds)] (two kinds share it 3:2).
        renderer: 'ism' (pyroomacoustics image sources, for pressure arrays) or 'ambisonic' (free-field
            SonoWorld-style rendering, for FOA arrays); None = the one the array's kind needs.
        snr_db: Sensor noise level below the mean channel power, dB.
        T_cam_array: 4×4 array frame → camera optical frame (default: array centred on the camera,
            array x = camera forward).
    """

    duration_s: float = 10.0
    fps: float = 10.0
    image_size: tuple[int, int] = (256, 192)
    hfov_deg: float = 70.0
    distortion: LensDistortion | None = None
    array: MicArray = field(default_factory=lambda: load_array('respeaker4'))
    sample_rate: int | None = None
    rotation_only: bool = False
    ground_robot: bool = False
    differential_drive: bool = False
    num_sources: int = 2
    moving_share: float = 0.25
    source_kinds: tuple[str, ...] = POINT_SOURCE_KINDS
    renderer: str | None = None
    snr_db: float = 30.0
    T_cam_array: np.ndarray = field(default_factory=array_mount)

    def __post_init__(self) -> None:
        if self.sample_rate is None:
            object.__setattr__(self, 'sample_rate', int(self.array.sample_rate or 16000))
        if self.array.sample_rate != self.sample_rate:  # the scene's array records at the scene's rate
            object.__setattr__(self, 'array', replace(self.array, sample_rate=int(self.sample_rate)))
        needed = 'ambisonic' if self.array.kind == 'foa' else 'ism'
        if self.renderer is None:
            object.__setattr__(self, 'renderer', needed)
        if self.renderer not in RENDERERS:
            raise UserInputError(f'unknown renderer {self.renderer!r}: use ism or ambisonic')
        if self.renderer != needed:
            raise UserInputError(f'the {self.renderer} renderer cannot feed {self.array.kind} array {self.array.name}: '
                                 f'ism renders pressure arrays, ambisonic renders FOA (--array foa)')
        if not (self.duration_s >= 1.0 and self.fps > 0 and self.sample_rate >= 8000 and self.num_sources >= 0):
            raise UserInputError('need duration >= 1 s, fps > 0, sample rate >= 8000 Hz, sources >= 0')
        if self.rotation_only + self.ground_robot + self.differential_drive > 1:
            raise UserInputError('rotation only, a ground robot and a differential-drive robot are different rigs: '
                                 'choose one')
        if not 0.0 <= self.moving_share <= 1.0:
            raise UserInputError(f'the share of moving sources must lie in [0, 1], got {self.moving_share}')
        object.__setattr__(self, 'source_kinds', tuple(self.source_kinds))
        unknown = [kind for kind in self.source_kinds if kind not in POINT_SOURCE_KINDS]
        if not self.source_kinds or unknown:
            raise UserInputError(f'source kinds must be some of {", ".join(POINT_SOURCE_KINDS)}, got '
                                 f'{", ".join(self.source_kinds) or "none"}')
        width, height = self.image_size
        if width < 16 or height < 16:
            raise UserInputError(f'image size {width}x{height} is too small (at least 16x16)')


@dataclass(frozen=True)
class SceneLayout:
    """The random draw of one scene: room, rig trajectory and sources."""

    room: Room
    trajectory: Trajectory
    sources: tuple[SourceSpec, ...]


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of scene `index` of a run seeded with `seed`."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def sample_layout(config: SynthConfig, rng: np.random.Generator) -> SceneLayout:
    """Draw a room, a trajectory inside it and `config.num_sources` sources away from the rig path."""
    room = Room.random(rng)
    mode = ('rotation' if config.rotation_only else 'ground' if config.ground_robot
            else 'drive' if config.differential_drive else 'free')
    trajectory = random_trajectory(room, rng, config.duration_s, mode=mode)
    path = trajectory.sample(np.linspace(0.0, trajectory.duration_s, 50))[:, :3, 3]
    sources = [_random_source(room, path, config.duration_s, rng, config.moving_share, config.source_kinds)
               for _ in range(config.num_sources)]
    sources.append(SourceSpec('ambient', None, end_s=config.duration_s, gain_db=-25.0))
    return SceneLayout(room, trajectory, tuple(sources))


def _random_source(room: Room, rig_path: np.ndarray, duration_s: float, rng: np.random.Generator,
                   moving_share: float = 0.25, kinds: tuple[str, ...] = POINT_SOURCE_KINDS) -> SourceSpec:
    """A point source ≥ 1 m from the rig path and 0.5 m from walls.

    A share `moving_share` (by default a quarter) of the sources walk (0.2–0.6 m/s) back and forth along a
    1–2.5 m segment; some start late or stop early (sound changing while the camera may be still is the AV-pose
    paper's failure mode). When no draw keeps 1 m from the rig path, the candidate farthest from it is used
    (always inside the room).
    """
    low, high = np.array([0.5, 0.5, 0.4]), np.asarray(room.size_m) - [0.5, 0.5, 0.4]

    def clearance(points: np.ndarray) -> float:
        inside = np.all((points >= low) & (points <= high)) and room.is_free(points, 0.2).all()
        return float(np.linalg.norm(rig_path[None] - points[:, None], axis=-1).min()) if inside else -1.0

    moving = rng.random() < moving_share
    candidates = []
    for _ in range(200):
        start = rng.uniform(low, high)
        if moving:
            heading = rng.uniform(0.0, 2.0 * np.pi)
            end = start + rng.uniform(1.0, 2.5) * np.array([np.cos(heading), np.sin(heading), 0.0])
            waypoints = start + np.linspace(0.0, 1.0, 5)[:, None] * (end - start)
        else:
            waypoints = start[None]
        candidates.append((clearance(waypoints), waypoints))
        if candidates[-1][0] >= 1.0:
            break
    waypoints = max(candidates, key=lambda candidate: candidate[0])[1]
    if clearance(waypoints) < 0.0:  # nothing fitted: a static source in the free middle of the room
        waypoints = np.asarray(room.center_m)[None]
    start_s, end_s = 0.0, duration_s
    if rng.random() < 0.3:
        start_s = float(rng.uniform(0.0, 0.4 * duration_s))
    earliest_end_s = max(start_s + 1.0, 0.6 * duration_s)
    if rng.random() < 0.3 and earliest_end_s < duration_s:
        end_s = float(rng.uniform(earliest_end_s, duration_s))
    kind = kinds[int(rng.integers(len(POINT_SOURCE_KINDS))) % len(kinds)]   # one draw, whatever `kinds` is
    gain_db = float(rng.uniform(-6.0, 0.0))
    if len(waypoints) == 1:
        return SourceSpec(kind, waypoints[0], start_s=start_s, end_s=end_s, gain_db=gain_db)
    speed = rng.uniform(0.2, 0.6)
    leg_s = np.linalg.norm(waypoints[-1] - waypoints[0]) / speed
    legs = int(np.ceil(duration_s / leg_s))
    path = np.stack([waypoints[-1] if leg % 2 else waypoints[0] for leg in range(legs + 1)])
    return SourceSpec(kind, path, start_s=start_s, end_s=end_s, gain_db=gain_db,
                      times_s=leg_s * np.arange(legs + 1))


def render_scene(config: SynthConfig, layout: SceneLayout, rng: np.random.Generator, seed: int, index: int,
                 on_frame: Callable[[], None] | None = None) -> tuple[SceneRecord, Iterator[np.ndarray], np.ndarray]:
    """Render audio now and frames lazily; returns (metadata, frame iterator, C×T audio).

    Audio whose peak exceeds 0.9 is scaled down to 0.9 so the float32 WAV stays within [-1, 1]. The metadata
    holds each point source's direct level at the array (`source_levels`, `scene.activity.source_levels`), from
    the same dry signals (drawn from a copy of `rng`, so the audio is what it would be without them).
    """
    width, height = config.image_size
    camera = replace(PinholeCamera.from_fov(width, height, config.hfov_deg), distortion=config.distortion)
    times, poses = layout.trajectory.frames(config.fps)
    keep = times <= config.duration_s + 1e-9
    times, poses = times[keep], poses[keep]
    T_cam_array = np.asarray(config.T_cam_array, dtype=np.float64)

    pose_fn = array_pose_fn(layout.trajectory.pose_at, T_cam_array)
    signals = source_signals(layout.sources, None, config.duration_s, config.sample_rate, copy.deepcopy(rng))
    levels = source_levels(layout.sources, signals, pose_fn, config.duration_s, config.sample_rate)
    audio = render_array_audio(layout.room.size_m, layout.room.rt60_s, layout.sources, None, config.array,
                               pose_fn, config.duration_s, fs=config.sample_rate, snr_db=config.snr_db, rng=rng)
    peak = float(np.abs(audio).max())
    if peak > 0.9:
        audio = audio * (0.9 / peak)
    renderer = RoomRenderer(layout.room, camera)

    def frames() -> Iterator[np.ndarray]:
        for pose in poses:
            yield renderer.render(pose)
            if on_frame is not None:
                on_frame()

    record = SceneRecord(fps=config.fps, sample_rate=config.sample_rate, image_size=(width, height), K=camera.K,
                         mic_array=config.array, T_cam_array=T_cam_array, room=layout.room.to_dict(),
                         sources=[source.to_dict() for source in layout.sources],
                         frame_times_s=times, T_world_cam=poses, duration_s=config.duration_s,
                         renderer=config.renderer,
                         seed=int(seed), distortion=config.distortion,
                         extra={'trajectory': layout.trajectory.to_dict(), 'scene_index': int(index),
                                'source_levels': levels})
    return record, frames(), audio


def generate_scene(out_dir: str | Path, config: SynthConfig, seed: int, index: int = 0,
                   on_frame: Callable[[], None] | None = None, layout: SceneLayout | None = None) -> SceneRecord:
    """Generate scene `index` of the run seeded `seed` into `out_dir` and return its record.

    `layout` replaces the random room/trajectory/sources draw (e.g. a hand-placed source); the seed still
    drives signals and noise.
    """
    rng = scene_rng(seed, index)
    drawn = sample_layout(config, rng)
    layout = layout or drawn
    record, frames, audio = render_scene(config, layout, rng, seed, index, on_frame)
    return write_scene(out_dir, record, frames, audio)


def scene_dir_name(index: int) -> str:
    """Folder name of scene `index` inside a synth output folder."""
    return f'scene_{index:05d}'


def frames_per_scene(config: SynthConfig) -> int:
    """Number of video frames in each scene."""
    return frame_count(config.duration_s, config.fps)
