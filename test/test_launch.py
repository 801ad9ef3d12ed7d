"""launch/pose.launch.py and config/doa.yaml.

The `launch` packages are not installable in this venv, so the launch file is checked statically here
(it compiles; its arguments, namespace push, sim-time parameter and node follow nav2_bringup); where
`launch_ros` exists (a ROS 2 install), its LaunchDescription is also built and inspected.
"""
import ast
import importlib.util
import py_compile

import pytest
import yaml

from av_pose.ros.doa_node import PARAMETERS, config_from_parameters

from ros_harness import REPO_ROOT

LAUNCH_FILE = REPO_ROOT / 'launch' / 'pose.launch.py'
PARAMS_FILE = REPO_ROOT / 'config' / 'doa.yaml'
NAV2_ARGUMENTS = {'namespace', 'use_sim_time', 'params_file', 'log_level', 'use_respawn'}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, 'id', getattr(node.func, 'attr', None)) == name]


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {kw.arg: kw.value for kw in call.keywords}


def test_launch_file_compiles(tmp_path):
    py_compile.compile(str(LAUNCH_FILE), cfile=str(tmp_path / 'pose.launch.pyc'), doraise=True)


def test_launch_file_structure():
    tree = ast.parse(LAUNCH_FILE.read_text())
    declared = {call.args[0].value for call in _calls(tree, 'DeclareLaunchArgument')}
    assert NAV2_ARGUMENTS <= declared
    assert all('description' in _keywords(call) for call in _calls(tree, 'DeclareLaunchArgument'))
    assert len(_calls(tree, 'GroupAction')) == 1 and len(_calls(tree, 'PushROSNamespace')) == 1
    (set_param,) = _calls(tree, 'SetParameter')
    assert set_param.args[0].value == 'use_sim_time'
    (node,) = _calls(tree, 'Node')
    kwargs = _keywords(node)
    assert (kwargs['package'].value, kwargs['executable'].value) == ('av_pose', 'doa_node')
    remaps = {pair.elts[0].value: ast.unparse(pair.elts[1]) for pair in kwargs['remappings'].elts}
    assignments = {target.id: ast.unparse(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   for target in node.targets if isinstance(target, ast.Name)}
    # `audio` and `audio_info` go to the topics given as launch arguments
    assert assignments[remaps['audio']] == "LaunchConfiguration('audio_topic')"
    assert assignments[remaps['audio_info']] == "LaunchConfiguration('audio_info_topic')"
    # the parameters come from the params_file argument; the log level and respawn from theirs
    assert "ParameterFile(params_file" in ast.unparse(kwargs['parameters'])
    assert assignments['params_file'] == "LaunchConfiguration('params_file')"
    assert 'log_level' in ast.unparse(kwargs['arguments']) and ast.unparse(kwargs['respawn']) == 'use_respawn'


def test_params_file_matches_node_parameters():
    data = yaml.safe_load(PARAMS_FILE.read_text())
    (key,) = data
    assert key.split('/')[-1] == 'doa_node'
    values = data[key]['ros__parameters']
    assert set(values) == set(PARAMETERS)  # every parameter documented, nothing unknown
    for name, value in values.items():
        default = PARAMETERS[name][0]
        assert value == default, f'{name}: {value!r} in doa.yaml, {default!r} in the node'
    cfg = config_from_parameters(values)
    assert cfg.array.name == 'respeaker4' and cfg.method == 'normmusic'


def test_launch_description_builds():
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    from launch.actions import DeclareLaunchArgument, GroupAction

    try:
        get_package_share_directory('av_pose')
    except PackageNotFoundError:
        pytest.skip('av_pose is not installed in an ament prefix (colcon build)')
    spec = importlib.util.spec_from_file_location('pose_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert NAV2_ARGUMENTS <= set(arguments)
    assert arguments['params_file'].default_value[0].text.endswith('config/doa.yaml')
    assert sum(isinstance(e, GroupAction) for e in description.entities) == 1
