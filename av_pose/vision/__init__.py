"""Image-side helpers: the corrupted-vision test set."""
