"""Pure numpy → ROS message builders for DOA results (no node, no middleware).

Angles in messages are radians (REP-103: azimuth counter-clockwise from the array's +x axis, in the x-y
plane of `frame_id`); the core's degrees are converted here. Times are float seconds.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Pose, PoseArray, Quaternion
from sensor_msgs.msg import LaserScan
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

SPECTRUM_BINS = 360
MARKER_NAMESPACES = ('doa_spectrum', 'doa_sources', 'doa_labels')
SCAN_RANGE_MAX = 1.001  # RViz (laser_geometry) keeps only ranges < range_max; the peak bin is 1.0

def seconds_to_time(t_s: float) -> Time:
    """Float seconds → builtin_interfaces/Time (nanoseconds rounded, carried into seconds)."""
    total_ns = int(round(float(t_s) * 1e9))
    sec, nanosec = divmod(total_ns, 1_000_000_000)
    return Time(sec=int(sec), nanosec=int(nanosec))


def seconds_to_duration(t_s: float) -> Duration:
    """Float seconds (≥ 0) → builtin_interfaces/Duration."""
    sec, nanosec = divmod(int(round(max(0.0, float(t_s)) * 1e9)), 1_000_000_000)
    return Duration(sec=int(sec), nanosec=int(nanosec))


def make_header(stamp_s: float, frame_id: str) -> Header:
    """std_msgs/Header stamped `stamp_s` seconds in `frame_id`."""
    return Header(stamp=seconds_to_time(stamp_s), frame_id=frame_id)


def yaw_quaternion(yaw_rad: float) -> Quaternion:
    """Rotation by `yaw_rad` about +z."""
    return Quaternion(x=0.0, y=0.0, z=math.sin(0.5 * yaw_rad), w=math.cos(0.5 * yaw_rad))


def _check_spectrum(spectrum: np.ndarray) -> np.ndarray:
    spectrum = np.nan_to_num(np.asarray(spectrum, dtype=np.float32).reshape(-1), nan=0.0)
    if spectrum.size != SPECTRUM_BINS:
        raise ValueError(f'DOA spectrum must have {SPECTRUM_BINS} bins, got {spectrum.size}')
    return np.clip(spectrum, 0.0, 1.0)


def spectrum_to_scan(spectrum: np.ndarray, stamp_s: float, frame_id: str,
                     scan_time_s: float = 0.0) -> LaserScan:
    """360-bin DOA spectrum in [0, 1] → LaserScan (bin i at i°), so RViz draws it as a polar plot.

    ranges = intensities = spectrum; range_min 0, range_max SCAN_RANGE_MAX (just above 1, because RViz's
    laser projection drops ranges >= range_max and the spectrum's peak is exactly 1);
    `scan_time_s` = time between estimates.
    """
    values = _check_spectrum(spectrum)
    step = 2.0 * math.pi / SPECTRUM_BINS
    return LaserScan(header=make_header(stamp_s, frame_id), angle_min=0.0,
                     angle_max=step * (SPECTRUM_BINS - 1), angle_increment=step, time_increment=0.0,
                     scan_time=float(scan_time_s), range_min=0.0, range_max=SCAN_RANGE_MAX,
                     ranges=values.tolist(), intensities=values.tolist())


def _finite_sources(azimuths_deg: np.ndarray, confidence: np.ndarray) -> list[tuple[float, float]]:
    """(azimuth rad, confidence in [0, 1]) for every finite azimuth, in input order."""
    azimuths = np.asarray(azimuths_deg, dtype=np.float64).reshape(-1)
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64).reshape(-1), nan=0.0)
    if conf.size != azimuths.size:
        raise ValueError(f'{azimuths.size} azimuths but {conf.size} confidences')
    return [(math.radians(a), float(np.clip(c, 0.0, 1.0)))
            for a, c in zip(azimuths, conf) if math.isfinite(a)]


def sources_to_pose_array(azimuths_deg: np.ndarray, stamp_s: float, frame_id: str) -> PoseArray:
    """One unit-distance pose per finite azimuth: position (cos az, sin az, 0), yaw = az. NaNs are skipped."""
    sources = _finite_sources(azimuths_deg, np.ones(np.size(azimuths_deg)))
    poses = [Pose(position=Point(x=math.cos(az), y=math.sin(az), z=0.0), orientation=yaw_quaternion(az))
             for az, _ in sources]
    return PoseArray(header=make_header(stamp_s, frame_id), poses=poses)


def spectrum_color(value: float, alpha: float = 1.0) -> ColorRGBA:
    """Colour ramp for a value in [0, 1]: blue (low) → green → red (high)."""
    v = float(np.clip(value, 0.0, 1.0))
    return ColorRGBA(r=v, g=1.0 - abs(2.0 * v - 1.0), b=1.0 - v, a=float(alpha))


def doa_markers(spectrum: np.ndarray, azimuths_deg: np.ndarray, confidence: np.ndarray, stamp_s: float,
                frame_id: str, *, lifetime_s: float = 0.5, ring_radius_m: tuple[float, float] = (0.3, 1.0),
                arrow_length_m: float = 1.0) -> MarkerArray:
    """RViz markers for one DOA frame.

    The array starts with a DELETEALL (so arrows of sources that vanished do not linger), followed by:
    a closed LINE_STRIP ring whose radius goes from ring_radius_m[0] (spectrum 0) to ring_radius_m[1]
    (spectrum 1), with per-vertex colours; one ARROW per source along its azimuth, length
    arrow_length_m × confidence; one TEXT_VIEW_FACING label with the azimuth in degrees. Ids are fixed per
    namespace (ring 0, source k → k), so a frame replaces the previous one.
    """
    values = _check_spectrum(spectrum)
    header = make_header(stamp_s, frame_id)
    lifetime = seconds_to_duration(lifetime_s)
    inner, outer = ring_radius_m
    closed = np.arange(SPECTRUM_BINS + 1) % SPECTRUM_BINS  # bin indices, first repeated to close the ring
    angles = np.deg2rad(closed + 0.5)  # sector centres
    radii = inner + (outer - inner) * values[closed]
    ring = Marker(header=header, ns=MARKER_NAMESPACES[0], id=0, type=Marker.LINE_STRIP, action=Marker.ADD,
                  lifetime=lifetime, frame_locked=False)
    ring.pose.orientation.w = 1.0
    ring.scale.x = 0.02  # line width, m
    ring.points = [Point(x=float(r * math.cos(a)), y=float(r * math.sin(a)), z=0.0)
                   for r, a in zip(radii, angles)]
    ring.colors = [spectrum_color(v) for v in values[closed]]
    markers = [Marker(header=header, action=Marker.DELETEALL), ring]
    for k, (az, conf) in enumerate(_finite_sources(azimuths_deg, confidence)):
        arrow = Marker(header=header, ns=MARKER_NAMESPACES[1], id=k, type=Marker.ARROW, action=Marker.ADD,
                       lifetime=lifetime, color=spectrum_color(1.0, alpha=0.5 + 0.5 * conf))
        arrow.pose.orientation = yaw_quaternion(az)
        arrow.scale.x = max(0.05, arrow_length_m * conf)  # shaft length, m
        arrow.scale.y = arrow.scale.z = 0.05               # shaft width and height, m
        label = Marker(header=header, ns=MARKER_NAMESPACES[2], id=k, type=Marker.TEXT_VIEW_FACING,
                       action=Marker.ADD, lifetime=lifetime, color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0),
                       text=f'{math.degrees(az) % 360.0:.0f}° ({conf:.2f})')
        label.pose.position = Point(x=1.15 * outer * math.cos(az), y=1.15 * outer * math.sin(az), z=0.1)
        label.pose.orientation.w = 1.0
        label.scale.z = 0.12  # text height, m
        markers += [arrow, label]
    return MarkerArray(markers=markers)


def drop_diagnostics(stamp_s: float, name: str, hardware_id: str, received: int, published: int,
                     dropped: Mapping[str, int], new_drops: int) -> DiagnosticArray:
    """/diagnostics status: WARN when chunks were dropped since the last report, else OK.

    `dropped` counts dropped chunks per reason since start; `new_drops` those since the last report.
    """
    level = DiagnosticStatus.WARN if new_drops else DiagnosticStatus.OK
    message = f'{new_drops} audio chunks dropped recently' if new_drops else 'ok'
    values = [KeyValue(key='chunks received', value=str(received)),
              KeyValue(key='estimates published', value=str(published))]
    values += [KeyValue(key=f'dropped: {reason}', value=str(count))
               for reason, count in sorted(dropped.items())]
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id, values=values)
    return DiagnosticArray(header=make_header(stamp_s, ''), status=[status])
