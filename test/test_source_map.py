"""Triangulation of tracked bearings into a world map of sound sources (synthetic bearings with known answers)."""
from dataclasses import dataclass

import numpy as np
import pytest

from av_pose.geometry import make_transform, rotation_from_ypr
from av_pose.sources.source_map import SourceMap, SourceMapConfig, goal_pose
from av_pose.sources.triangulation import bearing_vectors, fit_rays


@dataclass
class FakeTrack:
    id: int
    azimuth_deg: float
    elevation_deg: float = float('nan')
    confirmed: bool = True


@dataclass
class CoastingTrack(FakeTrack):
    """A track as `SourceTracker` gives it: `measured_azimuth_deg` NaN while it coasts on its prediction."""

    measured_azimuth_deg: float = float('nan')


def rig_pose(t: float, speed: float = 0.4, yaw_rate_deg: float = 10.0) -> np.ndarray:
    """Array pose in the world: driving along +x at `speed` m/s while turning."""
    return make_transform(rotation_from_ypr(np.radians(yaw_rate_deg * t), 0.0, 0.0), [speed * t, 0.0, 0.5])


def heard_azimuth(T_world_array: np.ndarray, source_world: np.ndarray) -> float:
    local = T_world_array[:3, :3].T @ (source_world - T_world_array[:3, 3])
    return float(np.degrees(np.arctan2(local[1], local[0])))


def test_fit_rays_meets_at_the_source_and_covariance_matches_the_noise():
    rng = np.random.default_rng(0)
    source = np.array([3.0, 2.0])
    errors = []
    for _ in range(200):
        origins = np.stack([np.linspace(0, 2, 20), np.zeros(20)], axis=1)
        angles = np.arctan2(source[1] - origins[:, 1], source[0] - origins[:, 0]) + rng.normal(0, np.radians(2), 20)
        fit = fit_rays(origins, np.stack([np.cos(angles), np.sin(angles)], axis=1), np.radians(2))
        errors.append((fit.position - source, fit.covariance))
    mean_error = np.mean([np.linalg.norm(e) for e, _ in errors])
    assert mean_error < 0.25
    # normalised squared error ≈ dimension when the covariance is honest (chi-square with 2 dof, mean 2)
    nees = np.mean([e @ np.linalg.solve(c, e) for e, c in errors])
    assert 1.0 < nees < 3.5


def test_robust_fit_ignores_bearings_of_another_source():
    """A quarter of a track's bearings aimed at another source (a wrong association): least squares is pulled
    about 2 m off, the Cauchy fit lands where the right bearings alone would, and clean rays keep an honest
    covariance."""
    rng = np.random.default_rng(1)
    source, other = np.array([3.0, 2.0]), np.array([0.5, -2.5])
    origins = np.stack([np.linspace(0, 2, 20), np.zeros(20)], axis=1)
    errors = {'least squares': [], 'robust': [], 'right rays only': []}
    nees = []
    for _ in range(100):
        wrong = np.zeros(20, bool)
        wrong[rng.choice(20, 5, replace=False)] = True
        targets = np.where(wrong[:, None], other, source)
        angles = np.arctan2(*(targets - origins).T[::-1]) + rng.normal(0, np.radians(2), 20)
        directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        for name, fit in (('least squares', fit_rays(origins, directions, np.radians(2))),
                          ('robust', fit_rays(origins, directions, np.radians(2), robust_sigmas=3.0)),
                          ('right rays only', fit_rays(origins[~wrong], directions[~wrong], np.radians(2)))):
            errors[name].append(np.linalg.norm(fit.position - source))
        angles = np.arctan2(*(source - origins).T[::-1]) + rng.normal(0, np.radians(2), 20)
        clean = fit_rays(origins, np.stack([np.cos(angles), np.sin(angles)], axis=1), np.radians(2),
                         robust_sigmas=3.0)
        nees.append((clean.position - source) @ np.linalg.solve(clean.covariance, clean.position - source))
    mean = {name: float(np.mean(values)) for name, values in errors.items()}
    assert mean['least squares'] > 1.0
    assert mean['robust'] < 0.25 and mean['robust'] < 1.2 * mean['right rays only']
    assert 1.0 < np.mean(nees) < 3.5


def test_no_motion_gives_a_long_covariance_along_the_ray():
    origins = np.zeros((30, 2))
    direction = np.tile([[0.0, 1.0]], (30, 1))
    fit = fit_rays(origins, direction, np.radians(3), prior_mean=np.array([0.0, 2.0]), prior_std_m=5.0)
    stds = np.sqrt(np.linalg.eigvalsh(fit.covariance))
    assert stds.max() > 3.0 and stds.min() < 0.2  # unknown range, well-known bearing


def test_bearing_vectors_follow_rep103():
    R = rotation_from_ypr(np.radians(90.0), 0.0, 0.0)  # array turned to face world +y
    assert np.allclose(bearing_vectors([0.0], None, R)[0], [0, 1, 0], atol=1e-12)
    assert np.allclose(bearing_vectors([90.0], [0.0], np.eye(3))[0], [0, 1, 0], atol=1e-12)
    assert np.allclose(bearing_vectors([0.0], [90.0], np.eye(3))[0], [0, 0, 1], atol=1e-12)


@pytest.mark.parametrize('noise_deg', [0.0, 2.0])
def test_static_sources_are_located_within_0_3_m_after_5_s_of_motion(noise_deg):
    rng = np.random.default_rng(1)
    sources = {1: np.array([2.5, 2.0, 1.2]), 2: np.array([1.0, -2.5, 0.8])}
    source_map = SourceMap()
    for t in np.arange(0.0, 5.0, 0.1):
        T = rig_pose(t)
        tracks = [FakeTrack(i, heard_azimuth(T, p) + rng.normal(0, noise_deg)) for i, p in sources.items()]
        source_map.update(t, tracks, T)
    located = {s.id: s for s in source_map.sources()}
    assert set(located) == {1, 2}
    for i, position in sources.items():
        assert np.linalg.norm(located[i].position_m[:2] - position[:2]) < 0.3
        assert located[i].localized and not located[i].moving


def test_a_walking_source_is_flagged_moving_and_followed():
    source_map = SourceMap(SourceMapConfig(moving_window_s=4.0))
    for t in np.arange(0.0, 10.0, 0.1):  # the rig drives a circle of radius 1 m (its path must bend)
        T = make_transform(rotation_from_ypr(0.5 * t, 0.0, 0.0), [np.sin(0.5 * t), 1.0 - np.cos(0.5 * t), 0.5])
        walker = np.array([3.0, -1.5 + 0.4 * t, 0.5])
        source_map.update(t, [FakeTrack(7, heard_azimuth(T, walker))], T)
    (source,) = source_map.sources()
    assert source.moving
    assert np.linalg.norm(source.position_m[:2] - [3.0, -1.5 + 0.4 * 9.9]) < 0.6


def test_a_talker_who_pauses_keeps_one_map_entry():
    source_map = SourceMap()
    talker = np.array([2.0, 1.5, 0.5])
    for t in np.arange(0.0, 12.0, 0.1):
        if 5.0 <= t < 7.0:
            continue  # silent: the tracker dropped track 1, a new track 4 starts afterwards
        T = rig_pose(t)
        source_map.update(t, [FakeTrack(1 if t < 5.0 else 4, heard_azimuth(T, talker))], T)
    (source,) = source_map.sources()
    assert source.id == 1 and source.track_ids == (1, 4)
    assert np.linalg.norm(source.position_m[:2] - talker[:2]) < 0.2


def test_a_coasting_prediction_is_used_only_for_prediction_s_after_the_track_was_last_heard():
    """Heard for 5 s, then 2 s of predictions frozen in the array frame (wrong once the rig moves on): the map takes
    the first 0.8 s of them (`prediction_s`) and no more, and stays on the talker."""
    talker = np.array([2.0, 1.5, 0.5])

    def run(config):
        source_map = SourceMap(config)
        frozen = heard_azimuth(rig_pose(4.9), talker)  # the last heard bearing, array frame
        for t in np.arange(0.0, 7.0, 0.1):
            T = rig_pose(t)
            heard = t < 5.0 - 1e-9
            azimuth = heard_azimuth(T, talker) if heard else frozen
            source_map.update(t, [CoastingTrack(2, azimuth, measured_azimuth_deg=azimuth if heard else np.nan)], T)
        return source_map.sources()[0]

    kept, everything = run(SourceMapConfig()), run(SourceMapConfig(prediction_s=10.0))
    assert kept.num_observations == 50 + 8 and everything.num_observations == 70
    assert np.linalg.norm(kept.position_m[:2] - talker[:2]) < 0.2


def test_unconfirmed_tracks_are_ignored_and_goal_faces_the_source():
    source_map = SourceMap()
    for t in np.arange(0.0, 3.0, 0.1):
        T = rig_pose(t)
        source_map.update(t, [FakeTrack(3, heard_azimuth(T, np.array([2.0, 2.0, 0.5])), confirmed=False)], T)
    assert source_map.sources() == []
    for t in np.arange(3.0, 8.0, 0.1):
        T = rig_pose(t)
        source_map.update(t, [FakeTrack(3, heard_azimuth(T, np.array([2.0, 2.0, 0.5])))], T)
    x, y, yaw = goal_pose(source_map.source(3), robot_xy=[0.0, 0.0], standoff_m=1.0)
    assert np.hypot(x - 2.0, y - 2.0) == pytest.approx(1.0, abs=0.25)
    assert np.degrees(yaw) == pytest.approx(45.0, abs=5.0)


def test_noisy_bearings_from_one_point_are_not_triangulated_at_the_origin():
    """Without a baseline the noise of the bearings meets at the rig itself: range must stay unknown."""
    rng = np.random.default_rng(3)
    angles = np.radians(90.0 + rng.normal(0.0, 3.0, 40))
    directions = np.stack([np.cos(angles), np.sin(angles)], 1)
    fit = fit_rays(np.zeros((40, 2)), directions, np.radians(3), prior_mean=np.array([0.0, 2.0]), prior_std_m=5.0)
    stds = np.sqrt(np.linalg.eigvalsh(fit.covariance))
    assert np.linalg.norm(fit.position) > 1.0 and stds.max() > 3.0, (fit.position, stds)
