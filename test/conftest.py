"""Test configuration: make the helper modules in test/ importable."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
