"""rosbag2 (MCAP) export of scene folders: `scene_to_bag` (used by `av-pose scene-to-bag`)."""
