"""PoseHistory: stamped poses interpolated at audio stamps."""
import numpy as np

from av_pose.geometry import make_transform, rotation_from_ypr, yaw_of
from av_pose.pose.history import PoseHistory


def pose(t: float) -> np.ndarray:
    return make_transform(rotation_from_ypr(0.5 * t, 0.0, 0.0), [t, 2.0 * t, 0.0])


def test_interpolates_between_and_refuses_far_outside():
    history = PoseHistory(capacity_s=5.0, max_extrapolation_s=0.2)
    for t in np.arange(0.0, 10.01, 0.5):
        assert history.push(t, pose(t))
    T = history.at(7.25)
    assert np.allclose(T[:3, 3], [7.25, 14.5, 0.0]) and np.isclose(np.cos(yaw_of(T[:3, :3]) - 0.5 * 7.25), 1.0)
    assert np.allclose(history.at(10.1), pose(10.0)) and history.at(10.3) is None
    assert history.at(4.0) is None  # older than the 5 s capacity


def test_bad_poses_are_refused_and_time_going_back_restarts():
    history = PoseHistory()
    assert not history.push(0.0, np.full((4, 4), np.nan))
    assert history.push(1.0, pose(1.0)) and history.push(2.0, pose(2.0))
    assert history.push(0.5, pose(0.5)) and len(history) == 1  # a bag loop: the old chain is dropped
    assert np.allclose(history.at(0.5), pose(0.5))
