"""av_pose: audio-visual direction of arrival, sound azimuth and relative camera pose."""

__version__ = '0.1.0'
