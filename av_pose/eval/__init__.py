"""Evaluation of any `PoseEstimator` on scene folders: pairs (`pairs`), runs (`run`) and reports (`report`)."""
