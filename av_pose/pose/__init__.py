"""Relative camera pose: the `PoseEstimator` interface, its implementations, odometry and calibration."""
from av_pose.pose.base import PoseEstimate, PoseEstimator, PosePair, Sensors, View
from av_pose.pose.registry import make_pose_estimator

__all__ = ['PoseEstimate', 'PoseEstimator', 'PosePair', 'Sensors', 'View', 'make_pose_estimator']
