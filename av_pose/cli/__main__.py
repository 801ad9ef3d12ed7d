"""`python -m av_pose.cli`."""
import sys

from av_pose.cli import main

sys.exit(main())
