"""Evaluation metrics: relative camera pose, sound azimuth (SLfM protocol) and spherical directions."""
