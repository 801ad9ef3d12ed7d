"""`av-pose bag`: a rosbag2 in → the core objects of `pose_node` → an MCAP rosbag2 out, plus a summary.

`process_bag(in_path, out_path, estimators, options)` reads the bag (`read_bag`), runs `run_odometry` (the node's
pair schedule and `OdometryIntegrator`) with every estimator on the same pairs, computes the keyframe DOA, and
writes a new MCAP rosbag2 folder holding every input message (unchanged) and, per estimator NAME (made a valid
ROS name: `geometric-vision` → `geometric_vision`):

- `/tf`: `NAME/odom` → `NAME/<camera frame>` per keyframe (the camera frame of the input is the ground truth's
  child, so the estimate gets its own frames); `/tf_static`: `world` → `NAME/odom` = the ground-truth pose of
  the first keyframe when the bag has ground truth, so RViz / Foxglove draw estimate and truth together;
- `/NAME/pose/odometry` (nav_msgs/Odometry), `/NAME/pose/twist` (TwistWithCovarianceStamped),
  `/NAME/pose/relative` (PoseWithCovarianceStamped, the estimate in the earlier camera's frame),
  `/NAME/pose/markers` (trajectory, frustum, sound arrows), as `pose_node` publishes them;
- `/doa/spectrum` (LaserScan, as `doa_node`: 360 bins, frame = the array frame) at each keyframe.

Everything above is stamped with the keyframe's image stamp. With `sources`, per pose source NAME (each
estimator and, when the bag has it, `ground_truth`) the sound-source map as `source_map_node` publishes it,
snapshots at `sources_rate_hz` of audio time stamped with the snapshot time: `/NAME/sources/map`
(av_pose_msgs/SoundSourceArray) and `/NAME/sources/markers` (sphere, 2σ ellipse, id), in `NAME/odom` (the
ground truth's: the world frame), and the tracks behind it at every DOA window, `/NAME/doa/tracks`
(av_pose_msgs/SoundTrackArray, array frame; the rig yaw that compensates their rotation is NAME's). With
ground-truth /tf in the bag, `BagResult.summary`
holds per estimator the scores of `av_pose.eval.odometry` (evo ATE/RPE, AUC@5/10/20, rotation MAE).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from av_pose.audio.streaming import DoaFrame
from av_pose.bag.reader import BagReadOptions, BagRecording, read_bag
from av_pose.bag.writer import MessageBuilder
from av_pose.errors import UserInputError
from av_pose.geometry import parent_axes_covariance
from av_pose.pose.base import PoseEstimator
from av_pose.pose.odometry import DEFAULT_DIRECTION_HOLD_S
from av_pose.pose.outputs import TrajectoryTrail, pose_marker_specs, sound_directions
from av_pose.pose.scale import ScalePolicy, make_scale_policy
from av_pose.pose.sequence import (
    OdometryTrack,
    SequenceStep,
    ground_truth_scale,
    keyframe_doa,
    keyframe_indices,
    recording_odometry_scale,
    run_odometry,
)
from av_pose.pose.smoothing import DEFAULT_ANGULAR_ACCEL, DEFAULT_LAG_S, chain_smoother
from av_pose.sources.frontend import ZONE_FRAMES
from av_pose.sources.source_map import MappedSource, source_marker_specs

SCALES = ('auto', 'none', 'fixed', 'ground-truth', 'odometry')
"""Translation scale: `auto` = ground-truth when the bag has /tf ground truth, else none; `ground-truth` = the
distance the ground truth travelled over each pair (an oracle standing in for wheel odometry, as pose_node's
`translation_scale: odometry`); `odometry` = the same poses as a reference odometry that also says which way the
camera went (a robot's wheel odometry through its frame tree, with `world_frame` odom: its distance and direction,
what pose_node's `translation_scale: odometry` takes from its topic); `none` and `fixed` as pose_node's."""
OUTPUT_TYPES = {'odometry': 'nav_msgs/msg/Odometry', 'twist': 'geometry_msgs/msg/TwistWithCovarianceStamped',
                'relative': 'geometry_msgs/msg/PoseWithCovarianceStamped',
                'markers': 'visualization_msgs/msg/MarkerArray', 'sources': 'av_pose_msgs/msg/SoundSourceArray',
                'tracks': 'av_pose_msgs/msg/SoundTrackArray'}


@dataclass(frozen=True)
class BagProcessOptions:
    """How to process a bag: topics (`read`), the pair schedule, the scale, and output frame names."""

    read: BagReadOptions = field(default_factory=BagReadOptions)
    gap_s: float = 1.0
    rate_hz: float = 5.0
    window_s: float = 1.0
    batch_size: int = 16
    scale: str = 'auto'
    speed_mps: float = 0.0
    odom_frame: str = 'odom'
    spectrum_topic: str = '/doa/spectrum'
    copy_inputs: bool = True
    progress: bool = True
    sources: bool = False
    source_peaks: int = 3
    source_zone_frames: int = ZONE_FRAMES
    source_zone_net: str | None = None
    """A ZoneNet (shipped name or checkpoint path) reads the zone spectra instead of their votes."""
    source_zone_net_threshold: float | None = None
    """Its least probability of a reported peak (None: `zone_net_doa.THRESHOLD`)."""
    sources_rate_hz: float = 1.0
    planar_up: tuple[float, float, float] | None = None
    """The rig moves on a level floor with this up axis (camera frame; `Sensors.planar_up`); None: free motion."""
    smoothing_lag_s: float = DEFAULT_LAG_S
    """The odometry smoother's lag (`av_pose.pose.smoothing`, as pose_node's `smoothing_lag_s`); 0: off."""
    smoothing_angular_accel: float = DEFAULT_ANGULAR_ACCEL
    """Its prior on the change of the turn rate (rad/s², as pose_node's `smoothing_angular_accel`)."""
    direction_hold_s: float = DEFAULT_DIRECTION_HOLD_S
    """How long the last known direction of travel carries steps without one (s, as pose_node's
    `direction_hold_s`; `run_odometry`); 0: off."""


@dataclass
class BagResult:
    """What `process_bag` did: the recording, each estimator's track, the keyframe DOA and the summary."""

    recording: BagRecording
    tracks: dict[str, OdometryTrack]
    doa: list[DoaFrame]
    summary: dict
    out_path: Path | None


def ros_name(name: str) -> str:
    """A model name as a ROS name token: letters, digits and underscores, not starting with a digit."""
    token = re.sub(r'[^A-Za-z0-9_]', '_', Path(name).stem if '/' in name else name).strip('_') or 'model'
    return token if not token[0].isdigit() else f'm_{token}'


def scale_factory(name: str, recording, speed_mps: float = 0.0):
    """A callable making a fresh scale policy of `name` (one of SCALES) for `recording`; and its resolved name."""
    if name not in SCALES:
        raise UserInputError(f'unknown translation scale {name!r}: use one of {", ".join(SCALES)}')
    has_truth = getattr(recording, 'T_world_cam', None) is not None
    resolved = ('ground-truth' if has_truth else 'none') if name == 'auto' else name
    if resolved == 'ground-truth':
        return (lambda: ground_truth_scale(recording)), resolved
    if resolved == 'odometry':
        return (lambda: recording_odometry_scale(recording)), resolved
    if resolved == 'fixed' and not speed_mps > 0:
        raise UserInputError('--translation-scale fixed needs --speed (m/s) > 0')

    def make() -> ScalePolicy:
        return make_scale_policy(resolved, speed_mps)
    return make, resolved


class _Outputs:
    """Collects the output messages (stamp ns, topic, message type, CDR bytes) while the tracks are built."""

    def __init__(self, typestore, recording: BagRecording, names: Mapping[str, str], options: BagProcessOptions,
                 camera_frame: str) -> None:
        self.typestore, self.recording, self.names, self.options = typestore, recording, names, options
        self.build = MessageBuilder(typestore)
        self.camera_frame = camera_frame
        self.messages: list[tuple[int, str, str, bytes]] = []
        self.trails = {name: TrajectoryTrail() for name in names}
        self.doa: dict[int, DoaFrame] = {}
        self.lifetime_s = max(0.5, 3.0 / options.rate_hz)

    def stamp_ns(self, t_s: float) -> int:
        return int(round((self.recording.time_origin_s + float(t_s)) * 1e9))

    def add(self, stamp_ns: int, topic: str, msgtype: str, msg) -> None:
        self.messages.append((stamp_ns, topic, msgtype, bytes(self.typestore.serialize_cdr(msg, msgtype))))

    def frames(self, name: str) -> tuple[str, str]:
        prefix = self.names[name]
        return f'{prefix}/{self.options.odom_frame}', f'{prefix}/{self.camera_frame}'

    def keyframe(self, name: str, frame: int, T_odom_cam: np.ndarray, step: SequenceStep | None) -> None:
        """The messages of one integrated keyframe of estimator `name`."""
        build, prefix = self.build, self.names[name]
        odom, child = self.frames(name)
        stamp = self.stamp_ns(self.recording.frame_times_s[frame])
        self.add(stamp, '/tf', 'tf2_msgs/msg/TFMessage', build.tf(stamp, [(odom, child, T_odom_cam)]))
        if step is not None:
            odometry = step.odometry
            self.add(stamp, f'/{prefix}/pose/odometry', OUTPUT_TYPES['odometry'], build.odometry(
                stamp, odom, child, T_odom_cam, parent_axes_covariance(T_odom_cam, odometry.covariance),
                odometry.twist, odometry.twist_covariance))
            self.add(stamp, f'/{prefix}/pose/twist', OUTPUT_TYPES['twist'],
                     build.twist(stamp, child, odometry.twist, odometry.twist_covariance))
            self.add(stamp, f'/{prefix}/pose/relative', OUTPUT_TYPES['relative'], build.pose_with_covariance(
                stamp, f'{prefix}/{self.camera_frame}', step.estimate.T_a_b, step.estimate.covariance))
        doa = self.doa.get(frame)
        sounds = [] if doa is None else sound_directions(doa.azimuths_deg, doa.confidence,
                                                         T_odom_cam @ self.recording.T_cam_array)
        trajectory = self.trails[name].add(self.recording.frame_times_s[frame], T_odom_cam[:3, 3])
        specs = pose_marker_specs(trajectory, T_odom_cam, self.recording.K,
                                  self.recording.image_size, sounds, self.lifetime_s)
        self.add(stamp, f'/{prefix}/pose/markers', OUTPUT_TYPES['markers'], build.markers(stamp, odom, specs))

    def source_tracks(self, prefix: str, array_frame: str, tracked: list[tuple[float, list]]) -> None:
        """`/PREFIX/doa/tracks` (as `doa_node` publishes them) per DOA window: (window centre s, tracks)."""
        for t, found in tracked:
            stamp = self.stamp_ns(t)
            self.add(stamp, f'/{prefix}/doa/tracks', OUTPUT_TYPES['tracks'],
                     self.build.track_array(stamp, array_frame, found))

    def source_maps(self, prefix: str, frame: str, T_frame_map: np.ndarray,
                    snapshots: Mapping[float, list[MappedSource]]) -> None:
        """`/PREFIX/sources/map` and `/PREFIX/sources/markers` in `frame` per snapshot (recording time s → map)."""
        for t, sources in sorted(snapshots.items()):
            stamp = self.stamp_ns(t)
            self.add(stamp, f'/{prefix}/sources/map', OUTPUT_TYPES['sources'], self.build.source_array(
                stamp, frame, sources, T_frame_map, self.recording.time_origin_s))
            self.add(stamp, f'/{prefix}/sources/markers', OUTPUT_TYPES['markers'], self.build.markers(
                stamp, frame, source_marker_specs(sources, T_frame_map=T_frame_map)))


def _write(in_path: Path, out_path: Path, typestore, outputs: _Outputs,
           copy_inputs: bool) -> tuple[dict[str, int], list[str]]:
    """Write inputs (when asked) and outputs, merged in stamp order, as an MCAP rosbag2 folder.

    Returns the message count per topic and the input topics not copied (types the typestore does not know).
    """
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer

    from av_pose.bag.scene_to_bag import latched_qos

    counts: dict[str, int] = {}
    skipped: list[str] = []
    outputs.messages.sort(key=lambda m: m[0])
    with Writer(out_path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {}

        def connection(topic: str, msgtype: str):
            if topic not in connections:
                qos = latched_qos() if topic in ('/tf_static', '/audio_info') else ()
                connections[topic] = writer.add_connection(topic, msgtype, typestore=typestore,
                                                           offered_qos_profiles=qos)
            return connections[topic]

        pending = iter(outputs.messages)
        upcoming = next(pending, None)

        def flush(until_ns: float) -> None:
            nonlocal upcoming
            while upcoming is not None and upcoming[0] <= until_ns:
                stamp, topic, msgtype, raw = upcoming
                writer.write(connection(topic, msgtype), stamp, raw)
                counts[topic] = counts.get(topic, 0) + 1
                upcoming = next(pending, None)

        if copy_inputs:
            with AnyReader([in_path], default_typestore=typestore) as reader:
                known = [c for c in reader.connections if c.msgtype in typestore.fielddefs]
                skipped = sorted({c.topic for c in reader.connections if c.msgtype not in typestore.fielddefs})
                for conn, stamp, raw in reader.messages(known):
                    flush(stamp)
                    writer.write(connection(conn.topic, conn.msgtype), stamp, raw)
                    counts[conn.topic] = counts.get(conn.topic, 0) + 1
        flush(float('inf'))
    return counts, skipped


def process_bag(in_path: str | Path, out_path: str | Path | None, estimators: Mapping[str, PoseEstimator],
                options: BagProcessOptions | None = None) -> BagResult:
    """Process the bag at `in_path` with `estimators` (display name → estimator); write `out_path` unless None.

    Raises:
        UserInputError: unreadable bag, existing output, bad options (one line).
    """
    from av_pose.bag.scene_to_bag import make_typestore
    from av_pose.eval.odometry import odometry_summary

    options = options or BagProcessOptions()
    in_path = Path(in_path)
    out = None if out_path is None else Path(out_path)
    if out is not None and out.exists():
        raise UserInputError(f'{out}: already exists (rosbag2 writes a new folder)')
    if out is not None and not out.parent.is_dir():
        raise UserInputError(f'{out.parent}: output folder does not exist')
    if options.sources and not options.sources_rate_hz > 0:
        raise UserInputError(f'source map rate must be > 0 Hz, got {options.sources_rate_hz}')
    if options.sources and (options.source_zone_frames == 1 or options.source_zone_frames < 0):
        raise UserInputError(f'zone frames must be 0 (off) or at least 2, got {options.source_zone_frames}')
    recording = read_bag(in_path, options.read)
    warnings = []
    if recording.K is None and any(e.needs_intrinsics for e in estimators.values()):
        warnings.append(f'no camera info on {options.read.camera_info_topic}: '
                        f'{", ".join(n for n, e in estimators.items() if e.needs_intrinsics)} cannot use the images')
    make_scale, scale_name = scale_factory(options.scale, recording, options.speed_mps)
    names = {name: ros_name(name) for name in estimators}
    if len(set(names.values())) != len(names):
        raise UserInputError(f'model names {", ".join(estimators)} collide as ROS names')
    typestore = make_typestore(options.read.audio_msg_type)
    camera_frame = options.read.camera_frame or 'camera_optical'
    outputs = _Outputs(typestore, recording, names, options, camera_frame)
    keys = [int(k) for k in keyframe_indices(recording.frame_times_s, 1.0 / options.rate_hz)]
    doa = keyframe_doa(recording, keys, options.window_s)
    outputs.doa = {k: frame for k, frame in zip(keys, doa)}

    tracks = run_odometry(recording, estimators, make_scale, gap_s=options.gap_s, rate_hz=options.rate_hz,
                          window_s=options.window_s, batch_size=options.batch_size, progress=options.progress,
                          on_keyframe=outputs.keyframe, planar_up=options.planar_up,
                          smoother=chain_smoother(options.smoothing_lag_s, options.smoothing_angular_accel),
                          direction_hold_s=options.direction_hold_s)
    array_frame = options.read.array_frame
    for k, frame in zip(keys, doa):
        stamp = outputs.stamp_ns(recording.frame_times_s[k])
        outputs.add(stamp, options.spectrum_topic, 'sensor_msgs/msg/LaserScan',
                    outputs.build.laser_scan(stamp, array_frame, frame.spectrum, 1.0 / options.rate_hz))
    truth = recording.T_world_cam
    if truth is not None:  # each odom placed on the ground truth of its first keyframe
        stamp = outputs.stamp_ns(recording.frame_times_s[0])
        outputs.add(stamp, '/tf_static', 'tf2_msgs/msg/TFMessage', outputs.build.tf(stamp, [
            (options.read.world_frame, outputs.frames(name)[0], truth[track.frames[0]])
            for name, track in tracks.items() if track.frames]))
    summary: dict = {'bag': str(in_path), 'out': None if out is None else str(out), 'keyframes': len(keys),
                     'gap_s': options.gap_s, 'rate_hz': options.rate_hz, 'scale': scale_name,
                     'direction_hold_s': options.direction_hold_s,
                     'ground_truth': truth is not None, 'warnings': warnings, 'models': {}}
    rpe_delta = max(1, int(round(options.gap_s * options.rate_hz)))
    for name, track in tracks.items():
        entry = {'topic_prefix': f'/{names[name]}', 'seconds_per_pair': track.seconds / max(1, len(track.pairs)),
                 'failed': sum(not p.estimate.valid for p in track.pairs), 'pairs': len(track.pairs),
                 'direction_held': sum(s.odometry.direction_held for s in track.steps),
                 'restarts': track.restarts}
        if truth is not None:
            entry.update(odometry_summary(track, truth, rpe_delta))
        summary['models'][name] = entry
    if options.sources:
        writes_maps = out is not None and OUTPUT_TYPES['sources'] in typestore.fielddefs
        if out is not None and not writes_maps:
            warnings.append('av_pose_msgs message definitions not found: the source map is only in the summary')
        summary['sources'] = _map_sources(recording, tracks, options, outputs if writes_maps else None)
    if out is not None:
        summary['topics'], skipped = _write(in_path, out, typestore, outputs, options.copy_inputs)
        warnings += [f'input topic {topic} not copied: message type unknown to the writer' for topic in skipped]
    return BagResult(recording, tracks, doa, summary, out)


def _map_sources(recording: BagRecording, tracks: Mapping[str, OdometryTrack], options: BagProcessOptions,
                 outputs: _Outputs | None = None) -> dict:
    """The sound-source map (`av_pose.eval.sources`) with each model's odometry and, if present, the ground truth.

    Maps are built in a z-up frame M: the world when the bag has ground truth (each odometry placed on the
    ground truth of its first keyframe, so the maps are comparable), else the array frame at odom's origin
    (level for a level array). Returns pose source → the final map's entries (JSON-ready, metres in M). With
    `outputs`, adds each pose source's snapshots every 1 / `sources_rate_hz` s in its frame (`_Outputs.source_maps`).
    """
    from av_pose.eval.sources import map_sources, mapped_source_json, recording_doa
    from av_pose.geometry import interpolate_poses, invert_transform
    from av_pose.sources.frontend import front_end_tracker_config

    doa = recording_doa(recording, options.source_peaks, zone_frames=options.source_zone_frames,  # its own window
                        zone_net=options.source_zone_net, zone_net_threshold=options.source_zone_net_threshold)
    if len(doa.times_s) == 0:
        return {}
    T_cam_array = np.asarray(recording.T_cam_array, dtype=np.float64)
    truth = recording.T_world_cam
    poses = {}  # pose source → (T_M_array(t), its frame, T_frame_M)
    if truth is not None:
        poses['ground-truth'] = (lambda t: recording.pose_at(t) @ T_cam_array), options.read.world_frame, np.eye(4)
    for name, track in tracks.items():
        if len(track.stamps_s) < 2:
            continue
        T_M_odom = truth[track.frames[0]] if truth is not None else invert_transform(T_cam_array)
        stamps, chain = np.asarray(track.stamps_s), np.einsum('ij,njk->nik', T_M_odom, track.poses())
        poses[name] = ((lambda t, stamps=stamps, chain=chain: interpolate_poses(stamps, chain, t) @ T_cam_array),
                       f'{ros_name(name)}/{options.odom_frame}', invert_transform(T_M_odom))
    end = float(doa.times_s[-1])
    times = [*np.arange(float(doa.times_s[0]), end, 1.0 / options.sources_rate_hz).tolist(), end]
    result = {}
    for name, (array_pose, frame, T_frame_M) in poses.items():
        tracked: list[tuple[float, list]] = []
        snapshots = map_sources(doa, array_pose, times, front_end_tracker_config(options.source_zone_net),
                                on_tracks=lambda t, found, out=tracked: out.append((t, found)))
        result[name] = [mapped_source_json(s) for s in snapshots[end]]
        if outputs is not None:
            outputs.source_maps(ros_name(name), frame, T_frame_M, snapshots)
            outputs.source_tracks(ros_name(name), options.read.array_frame, tracked)
    return result
