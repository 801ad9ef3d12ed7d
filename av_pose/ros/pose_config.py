"""`pose_node` parameters: names, defaults and descriptions, and their validation into a `PoseNodeConfig`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from av_pose.audio.arrays import MicArray
from av_pose.errors import UserInputError
from av_pose.pose.odometry import DEFAULT_DIRECTION_HOLD_S
from av_pose.pose.registry import DEFAULT_MODEL
from av_pose.pose.scale import SCALE_POLICIES
from av_pose.pose.smoothing import DEFAULT_ANGULAR_ACCEL, DEFAULT_LAG_S, ChainSmoother, chain_smoother
from av_pose.ros.audio_adapters import PcmFormat
from av_pose.ros.node_common import (
    AUDIO_PARAMETERS,
    audio_config,
    boolean,
    choice,
    integer,
    number_in,
    positive,
    text,
)
from av_pose.vision import DETECTORS

PARAMETERS: dict[str, tuple[Any, str]] = {
    'model': (DEFAULT_MODEL, 'Pose estimator: a shipped model (av-tiny, vision-tiny; av-pose models lists '
                             'them) | geometric | geometric-vision | geometric-audio | a checkpoint path (the names '
                             'av-pose eval --model takes); default: the shipped audio-visual model'),
    'device': ('auto', 'Torch device: auto (cuda when available) | cpu | cuda'),
    'detector': ('orb', 'Image features of the geometric estimators: orb | sift (more accurate: clean odometry '
                        'heading about 40 % lower on ShoeboxAV, at about 1.6x the time) | akaze (needs '
                        'opencv-contrib with OpenCV 5); the learned models ignore it'),
    'cpu_threads': (1, 'Torch threads for CPU work (1 suits a node sharing a small CPU; 0 = torch default)'),
    'image_transport': ('raw', 'raw: sensor_msgs/Image on `image`; compressed: sensor_msgs/CompressedImage '
                               'on `image` (remap it to .../compressed)'),
    'images_rectified': (False, 'The `image` topic is already undistorted (image_proc\'s image_rect, which shares '
                                'the raw camera_info): its intrinsics are CameraInfo\'s P; false: raw images, '
                                'undistorted onto K with CameraInfo\'s distortion_model and D'),
    'camera_hfov_deg': (0.0, 'Horizontal field of view (degrees) to assume where no camera_info gives the intrinsics '
                             '(none received, or an uncalibrated camera\'s zeros): a centred pinhole with square '
                             'pixels; a focal length 5 % too long reads every turn about 4 % short. 0: none (the '
                             'geometric estimator then cannot use the images)'),
    'pair_gap_s': (1.0, 'Time between the two frames of a pair, seconds (0.5-4)'),
    'rate_hz': (10.0, 'Keyframes (pose estimates) per second of image time'),
    'audio_window_s': (1.0, 'Audio window centred on each frame, seconds'),
    'audio_wait_s': (0.05, 'How much audio after a frame to wait for, seconds (the rest of the window is '
                          'left out: latency against audio)'),
    'max_batch': (4, 'Most frames estimated in one batch when frames queue up'),
    'max_frame_age_s': (0.2, 'A keyframe ready this long (seconds since it came, or since its audio did) is '
                             'skipped when a newer one is ready too: the estimator is behind (a slow CPU), and '
                             'estimating every frame late would let the latency grow; counted and warned as dropped '
                             '"behind"; 0: never'),
    'smoothing_lag_s': (DEFAULT_LAG_S,
                        'After each keyframe, the keyframes this recent (seconds) are re-estimated so that the '
                        'interleaved pair chains make one trajectory (av_pose.pose.smoothing); 0: off (each '
                        'keyframe exactly its partner\'s pose times its estimate)'),
    'smoothing_angular_accel': (DEFAULT_ANGULAR_ACCEL,
                                'The smoother\'s prior on how fast the turn rate changes (rad/s^2, white noise): '
                                'smaller smooths more'),
    'direction_hold_s': (DEFAULT_DIRECTION_HOLD_S,
                         'Where vision gives no translation direction (blur, darkness) but translation_scale '
                         'gives the distance, move along the last known direction of travel for at most this '
                         'long (seconds; in base_frame\'s axes with planar_motion, else in odom); the covariance '
                         'stays unknown, so robot_localization ignores it; 0: off (such steps do not move)'),
    'translation_scale': ('none', 'none: rotation-only odometry (translation unknown) | fixed: speed prior '
                                  '(speed_mps) | odometry: distance from the scale_odometry topic'),
    'speed_mps': (0.5, 'Speed prior for translation_scale fixed, m/s'),
    'odom_frame': ('odom', 'Parent frame of the published odometry and TF (REP-105)'),
    'base_frame': ('base_link', 'Child frame (robot body); empty: publish odom -> camera frame'),
    'camera_frame': ('', 'Camera optical frame; empty = the frame_id of the images'),
    'array_frame': ('', 'Microphone array frame for the camera -> array extrinsic on /tf_static; empty = '
                        'the frame_id of the audio messages (default mount when absent)'),
    'planar_motion': (False, 'The robot moves on a level floor (a ground robot): the geometric estimator fits only '
                             'the turn about base_frame\'s z axis and the heading across it (the camera\'s up axis '
                             'from /tf_static; a level camera when base_frame is empty or its transform absent). '
                             'Wrong for handheld cameras, drones and rough ground'),
    'publish_tf': (True, 'Publish the odom -> base transform on /tf'),
    'stale_timeout_s': (2.0, 'An input silent for this long (seconds of wall time) counts as absent'),
    'trajectory_points': (2000, 'Points kept in the trajectory marker (the oldest dropped)'),
    'trajectory_min_step_m': (0.01, 'A position joins the trajectory marker this far (m) from the last one kept'),
    'trajectory_period_s': (1.0, 'The trajectory marker (every point in one message) is re-sent this often, '
                                 'seconds of stamp time; 0: with every estimate'),
    'calibrate_array': (False, 'Estimate the microphone array mount (yaw on the rig, mirrored wiring, wrong '
                               'preset) from the motion and report it in the log and /diagnostics'),
    'calibration_source_known': (False, 'With calibrate_array: the loudest static source\'s direction at the first '
                                        'keyframe is known (the next two parameters), so turning alone gives the '
                                        'mount yaw'),
    'calibration_source_bearing_deg': (0.0, 'Its azimuth at the first keyframe, degrees counter-clockwise from the '
                                            'camera\'s forward axis (0: start the node facing the loudspeaker)'),
    'calibration_source_elevation_deg': (0.0, 'Its elevation above the camera\'s heading plane, degrees (matters '
                                              'only when the rig tilts)'),
    **AUDIO_PARAMETERS,
}


@dataclass(frozen=True)
class PoseNodeConfig:
    """Validated settings (seconds, Hz, metres per second)."""

    model: str
    device: str
    detector: str
    cpu_threads: int
    compressed: bool
    images_rectified: bool
    camera_hfov_deg: float
    gap_s: float
    period_s: float
    window_s: float
    wait_s: float
    max_batch: int
    max_frame_age_s: float
    smoother: ChainSmoother | None
    direction_hold_s: float
    scale: str
    speed_mps: float
    odom_frame: str
    base_frame: str
    camera_frame: str
    array_frame: str
    planar_motion: bool
    publish_tf: bool
    stale_s: float
    trajectory_points: int
    trajectory_min_step_m: float
    trajectory_period_s: float
    calibrate_array: bool
    calibration_source_deg: tuple[float, float] | None   # (azimuth, elevation) at the first keyframe, if known
    array: MicArray
    audio_msg_type: str
    fallback: PcmFormat | None


def config_from_parameters(values: dict[str, Any]) -> PoseNodeConfig:
    """Check raw parameter values and resolve them; raises UserInputError (one line)."""
    array, audio_msg_type, fallback = audio_config(values)
    odom_frame = text(values, 'odom_frame')
    if not odom_frame:
        raise UserInputError('parameter odom_frame must not be empty')
    return PoseNodeConfig(
        model=text(values, 'model'), device=choice(values, 'device', ('auto', 'cpu', 'cuda')),
        detector=choice(values, 'detector', DETECTORS),
        cpu_threads=integer(values, 'cpu_threads', 0),
        compressed=choice(values, 'image_transport', ('raw', 'compressed')) == 'compressed',
        images_rectified=boolean(values, 'images_rectified'),
        camera_hfov_deg=number_in(values, 'camera_hfov_deg', 0.0, 179.0),
        gap_s=number_in(values, 'pair_gap_s', 0.5, 4.0), period_s=1.0 / positive(values, 'rate_hz'),
        window_s=number_in(values, 'audio_window_s', 0.1, 4.0), wait_s=number_in(values, 'audio_wait_s', 0.0, 2.0),
        max_batch=integer(values, 'max_batch', 1), max_frame_age_s=number_in(values, 'max_frame_age_s', 0.0, 60.0),
        smoother=chain_smoother(number_in(values, 'smoothing_lag_s', 0.0, 60.0),
                                positive(values, 'smoothing_angular_accel')),
        direction_hold_s=number_in(values, 'direction_hold_s', 0.0, 60.0),
        scale=choice(values, 'translation_scale', SCALE_POLICIES),
        speed_mps=number_in(values, 'speed_mps', 0.0, 50.0), odom_frame=odom_frame,
        base_frame=text(values, 'base_frame'), camera_frame=text(values, 'camera_frame'),
        array_frame=text(values, 'array_frame'), planar_motion=boolean(values, 'planar_motion'),
        publish_tf=boolean(values, 'publish_tf'),
        stale_s=positive(values, 'stale_timeout_s'), trajectory_points=integer(values, 'trajectory_points', 2),
        trajectory_min_step_m=number_in(values, 'trajectory_min_step_m', 0.0, 10.0),
        trajectory_period_s=number_in(values, 'trajectory_period_s', 0.0, 3600.0),
        calibrate_array=boolean(values, 'calibrate_array'),
        calibration_source_deg=(number_in(values, 'calibration_source_bearing_deg', -360.0, 360.0),
                                number_in(values, 'calibration_source_elevation_deg', -89.0, 89.0))
        if boolean(values, 'calibration_source_known') else None,
        array=array, audio_msg_type=audio_msg_type, fallback=fallback)


def mount_calibrator(cfg: PoseNodeConfig):
    """The node's online mount calibrator (`calibrate_array`), with the known source direction if given; or None."""
    if not cfg.calibrate_array:
        return None
    from av_pose.pose.calibration import OnlineMountCalibrator

    bearing, elevation = cfg.calibration_source_deg or (None, 0.0)
    return OnlineMountCalibrator(cfg.array, source_bearing_deg=bearing, source_elevation_deg=elevation)
