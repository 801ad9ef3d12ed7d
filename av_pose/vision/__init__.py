"""Image-side helpers: the corrupted-vision test set, features, two-view geometry, the image shift, lenses."""

DETECTORS = ('orb', 'sift', 'akaze')
"""Feature detectors by name (`av_pose.vision.features`): 'orb' is the fastest (binary descriptors), 'sift' the most
repeatable. Here, without OpenCV, so that the command line and the node's parameters can list them cheaply."""
