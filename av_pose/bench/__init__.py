"""Benchmarks behind `av-pose bench`: each compares against a reference measured in the same run."""
