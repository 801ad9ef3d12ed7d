"""ROS 2 node `doa_node`: direction of arrival from a microphone-array audio stream.

Subscribes (relative names) `audio` (type from parameter `audio_msg_type`) and, for ros-drivers audio,
the latched `audio_info`. Publishes, stamped with the audio time of the window centre:
`doa/spectrum` (sensor_msgs/LaserScan, 360 one-degree bins in [0, 1]), `doa/sources`
(geometry_msgs/PoseArray, unit vectors towards the sources), `doa/markers` (visualization_msgs/MarkerArray,
with an arrow and id per confirmed track), `doa/tracks` (av_pose_msgs/SoundTrackArray: the DOA peaks tracked
over time with ids, `av_pose.sources.tracker`), TF frames `<track_frame_prefix><id>` when asked, and
`/diagnostics`. With `compensate_rotation` the tracker removes the rig's own rotation, read from `odom`
(nav_msgs/Odometry) and the base → array extrinsics on /tf_static.

Estimates are driven by audio time, not wall time: after each chunk, once the newest sample has advanced
by 1 / update_rate_hz since the last estimate, the newest window is analysed. Bag replay at any rate and
use_sim_time therefore give the same output. The work happens in the audio callback because every
chunk must enter the buffer (no frames may be skipped); an estimate costs a few ms per window.

Run: `doa_node --ros-args -p array:=respeaker4 -r audio:=/mic/audio` or
`python -m av_pose.ros.doa_node --ros-args ...`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.node import Node
from sensor_msgs.msg import LaserScan
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from av_pose.audio.arrays import MicArray
from av_pose.audio.buffer import AudioRingBuffer, PushResult, PushStatus
from av_pose.audio.doa import ALL_METHODS, SphereGrid, make_estimator, resolve_device, resolves_elevation
from av_pose.audio.streaming import DoaFrame, StreamingDoa
from av_pose.errors import UserInputError
from av_pose.geometry import yaw_of
from av_pose.models.zone_net_doa import THRESHOLD as ZONE_NET_THRESHOLD
from av_pose.ros import conversions
from av_pose.ros.audio_adapters import AudioChunk, PcmFormat, make_adapter
from av_pose.ros.entry import StopRequest
from av_pose.ros.node_common import (
    AUDIO_PARAMETERS,
    AudioInput,
    EstimateScheduler,
    Warnings,
    audio_config,
    boolean,
    choice,
    declare_parameters,
    fatal_on_user_error,
    integer,
    is_number,
    number_in,
    positive,
    run_node,
    text,
)
from av_pose.sources.frontend import method_tracker_defaults
from av_pose.sources.tracker import SourceTracker, TrackerConfig

NODE_NAME = 'doa_node'
DEFAULT_SAMPLE_RATE = 16000  # used to validate the set-up when neither the array nor a parameter fixes a rate

# name -> (default, description). Types are checked by `config_from_parameters` (so 10 and 10.0 both work).
PARAMETERS: dict[str, tuple[Any, str]] = {
    'array': AUDIO_PARAMETERS['array'],
    'method': ('normmusic', f'DOA method: {" | ".join(ALL_METHODS)} (intensity needs an foa array; slfm, the '
               'learned azimuth, a 2-channel array)'),
    'model': ('', 'With method slfm or zone-net: a shipped model name or a checkpoint path; empty = the shipped '
                  'slfm-tiny or zone-net-tiny'),
    'zone_net_threshold': (ZONE_NET_THRESHOLD, 'With method zone-net: least probability of a reported source, '
                           '0.01-0.99; higher: fewer false tracks, fewer sources found (docs/sound_sources.md)'),
    'window_s': (1.0, 'Analysis window length, seconds of audio'),
    'update_rate_hz': (10.0, 'Estimates per second of audio time'),
    'max_sources': (1, 'Number of sources to report (fewer than the number of microphones; up to 8 with '
                    'zone_frames)'),
    'zone_frames': (0, 'Multi-source zone voting: zones of this many STFT frames (about 0.1 s: 4 at 16 kHz) vote '
                    'for their dominant direction and the spectrum is the vote histogram; 0 = one spectrum per '
                    'window. To track several sources use 4 with window_s 0.5'),
    'onset_emphasis': (False, 'Add an onset-weighted spectrum (8 ms frames whose power rises): at onsets the direct '
                       'sound leads the room\'s echoes, so reflections pull the DOA less for clicks, speech and '
                       'music (a little more noise on steady sources). With zone_frames the onset frames vote '
                       'beside the zones instead (fewer false tracks). Spectral methods'),
    'freq_range_hz': ([500.0, 4000.0], 'Frequency band [low, high] used by the estimator, Hz'),
    'freq_bins': ([0], 'Explicit STFT bin indices instead of freq_range_hz; [0] = use freq_range_hz'),
    'speed_of_sound': (343.0, 'Speed of sound, m/s (331.3·sqrt(1 + T/273.15) at T °C: 337.4 at 10 °C, 349.0 at '
                       '30 °C)'),
    'grid': ('circle', 'Search grid: circle (azimuth only) | sphere (equal-area, azimuth and elevation; arrays '
             'that resolve elevation: FOA or 3-D)'),
    'sphere_points': (4096, 'Points of the sphere grid'),
    'frame_id': ('', 'frame_id of the outputs; empty = the frame_id of the audio messages'),
    'device': ('auto', 'Torch device: auto (cuda when available) | cpu | cuda'),
    'track_sources': (True, 'Track the peaks over time: doa/tracks, track markers (set max_sources to the '
                      'number of sources expected + 1)'),
    'track_gate_deg': (TrackerConfig.gate_deg, 'A peak further than this from a track cannot update it, degrees'),
    'track_confirm_hits': (TrackerConfig.confirm_hits, 'Hits within the first 5 updates that confirm a new track'),
    'track_coast_s': (0.0, 'A confirmed track not heard for this long dies, seconds; 0 = the method\'s own (1.5 '
                      'for zone-net, whose peaks leave gaps more than they invent; 0.8 for the others)'),
    'track_measurement_std_deg': (0.0, 'The 1-sigma of a DOA peak the tracker assumes, degrees; 0 = the method\'s '
                                  'own (6 for zone-net, whose peaks are surer; 3 for the others)'),
    'track_revive_s': (TrackerConfig.revive_s, 'A track confirmed within 30 deg of where one that died less than '
                       'this ago was last heard takes its id back (a talker who pauses keeps one id), s; 0 = off'),
    'compensate_rotation': (False, "Remove the rig's own rotation from the tracks using odom (nav_msgs/Odometry) "
                            'and the base -> array extrinsics on /tf_static'),
    'base_frame': ('', 'Frame the odometry poses; empty = the child_frame_id of the odometry messages'),
    'publish_track_frames': (False, 'Publish TF frames <track_frame_prefix><id> 1 m along each confirmed track'),
    'track_frame_prefix': ('sound_', 'Prefix of the track TF frames'),
    **{name: AUDIO_PARAMETERS[name] for name in ('audio_msg_type', 'channels', 'sample_rate', 'sample_format')},
}


@dataclass(frozen=True)
class DoaNodeConfig:
    """Validated node settings (seconds, Hz; `fallback` is the PCM format assumed before audio_info)."""

    array: MicArray
    method: str
    model: str
    window_s: float
    update_period_s: float
    max_sources: int
    zone_frames: int
    onset_emphasis: bool
    freq_range_hz: tuple[float, float]
    freq_bins: tuple[int, ...] | None
    speed_of_sound: float
    grid: str
    sphere_points: int
    frame_id: str
    device: str
    audio_msg_type: str
    fallback: PcmFormat | None
    tracker: TrackerConfig | None = None
    compensate_rotation: bool = False
    base_frame: str = ''
    track_frame_prefix: str | None = None
    zone_net_threshold: float = ZONE_NET_THRESHOLD


def _band(values: dict[str, Any]) -> tuple[float, float]:
    band = values['freq_range_hz']
    if isinstance(band, (str, bytes)) or not hasattr(band, '__len__') or len(band) != 2 \
            or not all(is_number(v) for v in band):
        raise UserInputError(f'parameter freq_range_hz must be [low, high] in Hz, got {band!r}')
    return float(band[0]), float(band[1])


def config_from_parameters(values: dict[str, Any]) -> DoaNodeConfig:
    """Check raw parameter values (as given by rclpy) and resolve them; raises UserInputError."""
    method, device = text(values, 'method'), text(values, 'device')
    if method not in ALL_METHODS:
        raise UserInputError(f'parameter method must be one of {", ".join(ALL_METHODS)}, got {method!r}')
    if device not in ('auto', 'cpu', 'cuda'):
        raise UserInputError(f'parameter device must be auto, cpu or cuda, got {device!r}')
    array, audio_msg_type, fallback = audio_config(values)
    grid = choice(values, 'grid', ('circle', 'sphere'))
    if grid == 'sphere' and not resolves_elevation(array):
        raise UserInputError(f'parameter grid sphere needs an array that resolves elevation (FOA or 3-D); '
                             f'{array.name} is planar: use circle')
    bins = values['freq_bins']
    if isinstance(bins, (str, bytes)) or not hasattr(bins, '__len__') or not bins \
            or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in bins):
        raise UserInputError(f'parameter freq_bins must be a list of STFT bin indices ([0] = unused), got {bins!r}')
    zone_frames = integer(values, 'zone_frames', 0)
    if zone_frames and method == 'slfm':
        raise UserInputError('parameter zone_frames needs a spectral method (normmusic, music, srp_phat, '
                             'intensity); slfm gives one azimuth: set zone_frames to 0')
    onset_emphasis = boolean(values, 'onset_emphasis')
    if onset_emphasis and method == 'slfm':
        raise UserInputError('parameter onset_emphasis needs a spectral method: set method to normmusic, music, '
                             'srp_phat or intensity')
    measurement_std_deg = number_in(values, 'track_measurement_std_deg', 0.0, 45.0)  # 0: the method's own
    coast_s = number_in(values, 'track_coast_s', 0.0, 60.0)  # 0: the method's own
    tracker = TrackerConfig(**{**method_tracker_defaults(method),  # e.g. zone-net's peak 1-σ and acceleration noise
                               'gate_deg': positive(values, 'track_gate_deg'),
                               'confirm_hits': integer(values, 'track_confirm_hits', 1),
                               'revive_s': number_in(values, 'track_revive_s', 0.0, 60.0),
                               **({'measurement_std_deg': measurement_std_deg} if measurement_std_deg else {}),
                               **({'coast_s': coast_s} if coast_s else {})},
                            ) if boolean(values, 'track_sources') else None
    prefix = text(values, 'track_frame_prefix') if boolean(values, 'publish_track_frames') else None
    return DoaNodeConfig(array=array, method=method, model=text(values, 'model'),
                         window_s=positive(values, 'window_s'),
                         update_period_s=1.0 / positive(values, 'update_rate_hz'),
                         max_sources=integer(values, 'max_sources', 1), zone_frames=zone_frames,
                         onset_emphasis=onset_emphasis,
                         freq_range_hz=_band(values),
                         freq_bins=None if list(bins) == [0] else tuple(int(b) for b in bins),
                         speed_of_sound=positive(values, 'speed_of_sound'), grid=grid,
                         sphere_points=integer(values, 'sphere_points', 100),
                         frame_id=text(values, 'frame_id'), device=resolve_device(device).type,
                         audio_msg_type=audio_msg_type, fallback=fallback, tracker=tracker,
                         compensate_rotation=boolean(values, 'compensate_rotation'),
                         base_frame=text(values, 'base_frame'), track_frame_prefix=prefix,
                         zone_net_threshold=number_in(values, 'zone_net_threshold', 0.01, 0.99))


class DoaNode(Node):
    """Streams audio messages through `StreamingDoa` and publishes DOA spectra, sources and markers."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        with fatal_on_user_error(self):
            self.config = cfg = config_from_parameters(declare_parameters(self, PARAMETERS))
            self._doa = self._make_streaming(cfg.fallback.sample_rate if cfg.fallback else DEFAULT_SAMPLE_RATE)
            self._warnings = Warnings(self)
            self._audio = AudioInput(self, make_adapter(cfg.audio_msg_type, cfg.fallback), cfg.array,
                                     self._warnings, self._rebuild, buffer=self._doa.buffer,
                                     on_chunk=self._on_chunk, rate_change_note=': DOA estimator rebuilt')
        self._scheduler = EstimateScheduler(cfg.update_period_s)
        self._published = self._reported_drops = 0
        self._scan_pub = self.create_publisher(LaserScan, 'doa/spectrum', 10)
        self._sources_pub = self.create_publisher(PoseArray, 'doa/sources', 10)
        self._markers_pub = self.create_publisher(MarkerArray, 'doa/markers', 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._tracking = self._make_tracking() if cfg.tracker is not None else None
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(
            f'array {cfg.array.name} ({cfg.array.num_channels} ch), {cfg.method} on {cfg.device}, '
            f'window {cfg.window_s:g} s every {cfg.update_period_s:g} s of audio, band '
            f'{cfg.freq_range_hz[0]:g}-{cfg.freq_range_hz[1]:g} Hz; input {self.resolve_topic_name("audio")} '
            f'({cfg.audio_msg_type})')

    # ------------------------------------------------------------------------------------------ set-up
    def _make_streaming(self, sample_rate: float) -> StreamingDoa:
        cfg = self.config
        band = {'freq_bins': cfg.freq_bins} if cfg.freq_bins else {'freq_range_hz': cfg.freq_range_hz}
        grid = SphereGrid(points=cfg.sphere_points) if cfg.grid == 'sphere' else None
        zones = {'zone_frames': cfg.zone_frames} if cfg.zone_frames else {}
        learned = {'threshold': cfg.zone_net_threshold} if cfg.method == 'zone-net' else {}
        estimator = make_estimator(cfg.method, cfg.array, sample_rate, cfg.onset_emphasis, num_sources=cfg.max_sources,
                                   device=cfg.device, speed_of_sound=cfg.speed_of_sound, grid=grid,
                                   model=cfg.model or None, **band, **zones, **learned)
        return StreamingDoa(estimator, window_s=cfg.window_s)

    def _rebuild(self, sample_rate: int) -> AudioRingBuffer:
        """A new estimator for a new stream sample rate (the old one is released); returns its buffer."""
        rebuilt = self._make_streaming(sample_rate)
        self._doa.estimator.release()
        self._doa = rebuilt
        self._scheduler.reset()
        return rebuilt.buffer

    def _make_tracking(self) -> _Tracking | None:
        """The tracker and its outputs, or None (one warning) where av_pose_msgs is not built."""
        try:
            from av_pose.ros import source_messages
        except ImportError as err:
            self.get_logger().warning(f'doa/tracks disabled: the av_pose_msgs package is not available ({err}); '
                                      'build it beside av_pose (README, "ROS 2 workspace")')
            return None
        from av_pose.ros.odometry_input import OdometryInput

        cfg = self.config
        odometry = OdometryInput(self, self._warnings, cfg.base_frame) if cfg.compensate_rotation else None
        tf_pub = self.create_publisher(TFMessage, '/tf', 100) if cfg.track_frame_prefix is not None else None
        tracks_pub = self.create_publisher(source_messages.SoundTrackArray, 'doa/tracks', 50)  # 5 s at 10 Hz
        return _Tracking(SourceTracker(cfg.tracker), source_messages, tracks_pub, odometry, tf_pub)

    # ------------------------------------------------------------------------------------------ input
    def _on_chunk(self, chunk: AudioChunk, result: PushResult) -> None:
        if result.status is PushStatus.RESET:
            self._scheduler.reset()
            if self._tracking is not None:
                self._tracking.tracker.reset()
        end_s = self._doa.buffer.end_s
        if end_s is not None and self._scheduler.due(end_s):
            try:
                self._estimate(end_s)
            except Exception as err:  # the chunk is buffered; only this estimate is lost
                self._scheduler.mark(end_s)
                self._warnings.warn('estimate', f'DOA estimate failed: {type(err).__name__}: {err}')

    # ------------------------------------------------------------------------------------------ output
    def _estimate(self, end_s: float) -> None:
        frame = self._doa.latest()
        if frame is None:
            return
        self._scheduler.mark(end_s)
        stamp_s, frame_id = frame.stamp_s, self.config.frame_id or self._audio.frame_id
        self._scan_pub.publish(conversions.spectrum_to_scan(frame.spectrum, stamp_s, frame_id,
                                                            self.config.update_period_s))
        self._sources_pub.publish(conversions.sources_to_pose_array(frame.azimuths_deg, stamp_s, frame_id))
        lifetime_s = max(0.5, 3.0 * self.config.update_period_s)
        markers = conversions.doa_markers(frame.spectrum, frame.azimuths_deg, frame.confidence, stamp_s, frame_id,
                                          lifetime_s=lifetime_s)
        if self._tracking is not None:
            markers.markers += self._track(frame, frame_id, lifetime_s)
        self._markers_pub.publish(markers)
        self._published += 1

    def _track(self, frame: DoaFrame, frame_id: str, lifetime_s: float) -> list:
        """Update the tracker with one frame's peaks, publish doa/tracks (and TF); returns the track markers."""
        tracking, stamp_s = self._tracking, frame.stamp_s
        yaw_deg = None
        if tracking.odometry is not None:
            T_odom_array = tracking.odometry.array_pose(stamp_s, frame_id)
            if T_odom_array is None:
                self._warnings.warn('no_odometry', f'rotation not compensated: no odometry at t={stamp_s:.2f} s '
                                    f'on {tracking.odometry.topic}')
            else:
                yaw_deg = float(np.degrees(yaw_of(T_odom_array[:3, :3])))
        elevations = frame.elevations_deg if self.config.grid == 'sphere' else None  # the circle grid has none
        try:
            tracks = tracking.tracker.update(stamp_s, frame.azimuths_deg, frame.confidence, elevations,
                                             rig_yaw_deg=yaw_deg)
        except UserInputError:  # time went back (a bag loop): start over, with new ids
            tracking.tracker.reset()
            tracks = tracking.tracker.update(stamp_s, frame.azimuths_deg, frame.confidence, elevations,
                                             rig_yaw_deg=yaw_deg)
        messages = tracking.messages
        tracking.publisher.publish(messages.track_array_message(stamp_s, frame_id, tracks))
        if tracking.tf_publisher is not None:
            frames = messages.track_transforms(stamp_s, frame_id, tracks, self.config.track_frame_prefix)
            if frames:
                tracking.tf_publisher.publish(TFMessage(transforms=frames))
        return messages.track_markers(stamp_s, frame_id, tracks, lifetime_s).markers[1:]  # no second DELETEALL

    def destroy_node(self) -> None:
        """Release the estimator (and any GPU memory it holds) with the node."""
        streaming = getattr(self, '_doa', None)  # absent when the constructor failed
        if streaming is not None:
            streaming.estimator.release()
        super().destroy_node()

    def _publish_diagnostics(self) -> None:
        dropped = self._warnings.dropped
        total = sum(dropped.values())
        self._diag_pub.publish(conversions.drop_diagnostics(
            self.get_clock().now().nanoseconds * 1e-9, f'{self.get_fully_qualified_name()}: audio DOA',
            self.config.array.name, self._audio.received, self._published, dropped,
            total - self._reported_drops))
        self._reported_drops = total


@dataclass
class _Tracking:
    """The tracker of a doa_node and where its results go."""

    tracker: SourceTracker
    messages: Any            # av_pose.ros.source_messages (imported only where av_pose_msgs exists)
    publisher: Any
    odometry: Any            # OdometryInput, or None without rotation compensation
    tf_publisher: Any


def main(args: list[str] | None = None, stop: StopRequest | None = None) -> int:
    """Run the node (console script `doa_node`, via `av_pose.ros.entry`); returns the process exit code."""
    return run_node(DoaNode, args, stop)


if __name__ == '__main__':
    sys.exit(main())
