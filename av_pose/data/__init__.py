"""Datasets of frame pairs with audio and ground-truth poses, all returning the item dict of `pairs`.

Modules: `pairs` (FramePairDataset over av_pose scene folders, `split_scenes`), `hm3d_ss` (SLfM's
HM3D-SS rotation pairs), `egoexo4d` (Ego-Exo4D / Project Aria takes with MPS trajectories).
"""
