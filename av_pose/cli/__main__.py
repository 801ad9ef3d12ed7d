"""`python -m av_pose.cli ...` (what torchrun launches) runs the `av-pose` command line."""
import sys

from av_pose.cli import main

sys.exit(main())
