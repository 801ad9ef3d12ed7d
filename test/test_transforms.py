"""The frame tree without ROS (`av_pose.transforms`): lookups through a common ancestor, moving edges in time."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from av_pose.geometry import R_CAM_ARRAY_DEFAULT, invert_transform, make_transform, yaw_of
from av_pose.transforms import TimedTransforms, TransformTree


def yawed(deg: float, xyz) -> np.ndarray:
    return make_transform(Rotation.from_euler('z', deg, degrees=True).as_matrix(), xyz)


def test_a_fixed_tree_answers_between_any_two_connected_frames():
    tree = TransformTree()
    T_base_link, T_link_optical = yawed(30, [0.2, 0.0, 0.5]), make_transform(R_CAM_ARRAY_DEFAULT.T, [0.0, 0.05, 0.0])
    T_base_mic = yawed(-90, [0.0, 0.1, 0.6])
    tree.add('base_link', 'camera_link', T_base_link)
    tree.add('/camera_link', 'camera_optical', T_link_optical)   # a leading slash is the same frame
    tree.add('base_link', 'mic_array', T_base_mic)
    tree.add('map', 'elsewhere', np.eye(4))
    tree.add('base_link', 'broken', np.full((4, 4), np.nan))     # ignored
    np.testing.assert_allclose(tree.lookup('camera_optical', 'mic_array'),
                               invert_transform(T_base_link @ T_link_optical) @ T_base_mic, atol=1e-12)
    np.testing.assert_allclose(tree.lookup('base_link', 'base_link'), np.eye(4))
    assert tree.lookup('base_link', 'elsewhere') is None and tree.lookup('base_link', 'broken') is None
    tree.add('base_link', 'mic_array', yawed(0, [0, 0, 0]))       # a later edge replaces the earlier one
    np.testing.assert_allclose(tree.lookup('base_link', 'mic_array'), np.eye(4))


def test_moving_edges_are_interpolated_at_the_time_asked():
    frames = TimedTransforms()
    frames.static.add('base_link', 'camera_optical', make_transform(R_CAM_ARRAY_DEFAULT.T, [0.2, 0.0, 0.3]))
    frames.add_moving('odom', 'base_link', 2.0, yawed(40, [1.0, 0.0, 0.0]))   # out of order on purpose
    frames.add_moving('odom', 'base_link', 1.0, yawed(0, [0.0, 0.0, 0.0]))
    T_half = frames.lookup('odom', 'base_link', 1.5)
    assert abs(np.degrees(yaw_of(T_half[:3, :3])) - 20.0) < 1e-9
    np.testing.assert_allclose(T_half[:3, 3], [0.5, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(frames.lookup('odom', 'base_link', 9.0), yawed(40, [1.0, 0.0, 0.0]), atol=1e-12)
    np.testing.assert_allclose(frames.lookup('odom', 'camera_optical', 2.0),
                               yawed(40, [1.0, 0.0, 0.0]) @ make_transform(R_CAM_ARRAY_DEFAULT.T, [0.2, 0.0, 0.3]),
                               atol=1e-12)
    assert frames.moving_frames() == ['base_link']
    assert frames.fewest_stamps('odom', 'camera_optical') == 2
    assert frames.fewest_stamps('base_link', 'camera_optical') is None   # only fixed edges between them
    assert frames.lookup('map', 'base_link', 1.0) is None
    frames.add_moving('map', 'base_link', 3.0, yawed(0, [5.0, 0.0, 0.0]))      # re-parented: a new series
    np.testing.assert_allclose(frames.lookup('map', 'base_link', 1.0)[:3, 3], [5.0, 0.0, 0.0])
    assert frames.lookup('odom', 'base_link', 1.0) is None
