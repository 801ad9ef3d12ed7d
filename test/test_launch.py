"""launch/*.launch.py, config/*.yaml, config/av_pose.rviz, package.xml and setup.py's install lists.

The `launch` packages are not installable in this venv, so the launch files are checked statically here (they
compile; their arguments, namespace push, parameter order and nodes follow nav2_bringup); where `launch_ros`
exists (a ROS 2 install with av_pose built), their LaunchDescriptions are also built and inspected.
Two bugs found by running the launch for real are pinned: `use_sim_time:=true` must be passed after the params
file (else a file that sets use_sim_time silently wins), and every data_files glob must match a file.
"""
import ast
import glob
import importlib
import importlib.util
import py_compile
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from av_pose.models.zone_net_doa import THRESHOLD as ZONE_NET_THRESHOLD
from av_pose.ros import doa_node, pose_node, source_map_node

from ros_harness import REPO_ROOT

DOA_LAUNCH = REPO_ROOT / 'launch' / 'doa.launch.py'
POSE_LAUNCH = REPO_ROOT / 'launch' / 'pose.launch.py'
PARAMS_FILE = REPO_ROOT / 'config' / 'av_pose.yaml'
SOURCES_FILE = REPO_ROOT / 'config' / 'sources.yaml'
NAV2_ARGUMENTS = {'namespace', 'use_sim_time', 'params_file', 'log_level', 'use_respawn'}
POSE_ARGUMENTS = NAV2_ARGUMENTS | {'image_topic', 'camera_info_topic', 'audio_topic', 'audio_info_topic', 'model',
                                  'device', 'planar_motion', 'rviz', 'sources', 'sources_params_file', 'odom_topic',
                                  'wheel_odometry_topic'}
NODES = {'doa_node': doa_node, 'pose_node': pose_node, 'source_map_node': source_map_node}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, 'id', getattr(node.func, 'attr', None)) == name]


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {kw.arg: kw.value for kw in call.keywords}


def _declared(tree: ast.AST) -> dict[str, ast.Call]:
    return {call.args[0].value: call for call in _calls(tree, 'DeclareLaunchArgument')}


def _node(tree: ast.AST, executable: str) -> dict[str, ast.expr]:
    (node,) = [c for c in _calls(tree, 'Node') if _keywords(c)['executable'].value == executable]
    return _keywords(node)


def _assert_parameters_file_then_overrides(parameters: ast.expr, overrides_source: str) -> None:
    """parameters=[ParameterFile(params_file...), <overrides with use_sim_time>]: the overrides come last."""
    assert isinstance(parameters, ast.List) and len(parameters.elts) == 2, ast.unparse(parameters)
    first, second = (ast.unparse(e) for e in parameters.elts)
    assert first.startswith('ParameterFile(') and 'params_file' in first
    assert "'use_sim_time'" in overrides_source and 'ParameterValue' in overrides_source, overrides_source
    assert 'ParameterFile' not in second


@pytest.mark.parametrize('path', [DOA_LAUNCH, POSE_LAUNCH])
def test_launch_files_compile(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / 'launch.pyc'), doraise=True)


def test_doa_launch_structure():
    tree = ast.parse(DOA_LAUNCH.read_text())
    declared = _declared(tree)
    assert set(declared) == NAV2_ARGUMENTS | {'audio_topic', 'audio_info_topic', 'sources', 'sources_params_file'}
    assert all('description' in _keywords(call) for call in declared.values())
    assert ast.unparse(_keywords(declared['params_file'])['default_value']).endswith("'config', 'av_pose.yaml')")
    assert ast.unparse(_keywords(declared['sources_params_file'])['default_value']).endswith(
        "'config', 'sources.yaml')")
    assert _keywords(declared['sources'])['default_value'].value == 'false'  # doa.launch.py alone: as the file says
    assert len(_calls(tree, 'GroupAction')) == 1 and len(_calls(tree, 'PushROSNamespace')) == 1
    assert not _calls(tree, 'SetParameter')  # it would lose to the params file
    node = _node(tree, 'doa_node')
    assert node['package'].value == 'av_pose' and node['name'].value == 'doa_node'
    # the params file, then (sources:=true) the several-sources file, then use_sim_time, which wins over both
    (builder,) = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == 'doa_node']
    files = ast.unparse(builder)
    assert ast.unparse(node['parameters']).startswith('[*files, {') and "'use_sim_time'" in \
        ast.unparse(node['parameters'])
    assert files.index("ParameterFile(LaunchConfiguration('params_file')") < \
        files.index("ParameterFile(LaunchConfiguration('sources_params_file')")
    assert "LaunchConfiguration('sources').perform(context)" in files
    remaps = {pair.elts[0].value: ast.unparse(pair.elts[1]) for pair in node['remappings'].elts}
    assert remaps == {'audio': "LaunchConfiguration('audio_topic')",
                      'audio_info': "LaunchConfiguration('audio_info_topic')"}
    assert 'log_level' in ast.unparse(node['arguments'])
    assert ast.unparse(node['respawn']) == "LaunchConfiguration('use_respawn')"


def test_pose_launch_structure():
    tree = ast.parse(POSE_LAUNCH.read_text())
    declared = _declared(tree)
    assert set(declared) == POSE_ARGUMENTS and all('description' in _keywords(c) for c in declared.values())
    # DOA comes from doa.launch.py (no second doa_node block), with every argument it declares forwarded
    (include,) = _calls(tree, 'IncludeLaunchDescription')
    assert "'doa.launch.py'" in POSE_LAUNCH.read_text()
    assert not [c for c in _calls(tree, 'Node') if _keywords(c)['executable'].value == 'doa_node']
    (shared,) = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and getattr(node.targets[0], 'id', '') == 'SHARED_ARGUMENTS']
    assert set(ast.literal_eval(shared)) == set(_declared(ast.parse(DOA_LAUNCH.read_text())))
    forwarded = ast.unparse(_keywords(include)['launch_arguments'])
    assert forwarded.startswith('{name: LaunchConfiguration(name) for name in SHARED_ARGUMENTS}'), forwarded
    # pose_node: the params file first, then use_sim_time (and model/device when given) that win over it
    node = _node(tree, 'pose_node')
    (overrides,) = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == 'pose_node_overrides']
    _assert_parameters_file_then_overrides(node['parameters'], ast.unparse(overrides))
    assert "for name in ('model', 'device')" in ast.unparse(overrides)
    assert "overrides['planar_motion'] = ParameterValue(LaunchConfiguration('planar_motion'), value_type=bool)" \
        in ast.unparse(overrides)
    remaps = {pair.elts[0].value: ast.unparse(pair.elts[1]) for pair in node['remappings'].elts}
    assert remaps == {**{name: f"LaunchConfiguration('{topic}')" for name, topic in (
        ('image', 'image_topic'), ('camera_info', 'camera_info_topic'), ('audio', 'audio_topic'),
        ('audio_info', 'audio_info_topic'))}, 'scale_odometry': "wheels or 'scale_odometry'"}
    # a wheel odometry topic switches the scale to it (pose_node's translation_scale odometry)
    assert "wheels = LaunchConfiguration('wheel_odometry_topic').perform(context)" in ast.unparse(overrides)
    assert "overrides['translation_scale'] = 'odometry'" in ast.unparse(overrides)
    rviz = _node(tree, 'rviz2')
    assert ast.unparse(rviz['condition']) == 'IfCondition(rviz)' and "'av_pose.rviz'" in ast.unparse(rviz['arguments'])
    assert len(_calls(tree, 'PushROSNamespace')) == 1
    source_map = _node(tree, 'source_map_node')
    _assert_parameters_file_then_overrides(source_map['parameters'], ast.unparse(source_map['parameters']))
    assert ast.unparse(source_map['remappings']) == "[('odom', LaunchConfiguration('odom_topic'))]"
    assert ast.unparse(source_map['condition']) == "IfCondition(LaunchConfiguration('sources'))"


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError:
        pytest.skip('launch / launch_ros are not installed here')
    return module


@pytest.mark.parametrize('node_name', list(NODES))
def test_params_file_lists_every_parameter_with_its_default(node_name):
    data = yaml.safe_load(PARAMS_FILE.read_text())
    assert set(data) == {f'/**/{name}' for name in NODES}  # applies in any namespace
    values = data[f'/**/{node_name}']['ros__parameters']
    module = NODES[node_name]
    assert set(values) == set(module.PARAMETERS)  # every parameter documented, nothing unknown
    for name, value in values.items():
        default = module.PARAMETERS[name][0]
        assert value == default, f'{name}: {value!r} in av_pose.yaml, {default!r} in {node_name}'
    module.config_from_parameters(values)


def test_sources_file_sets_valid_several_source_doa_settings():
    """config/sources.yaml (pose.launch.py's default) over av_pose.yaml gives a doa_node with ZoneNet, 3 sources."""
    data = yaml.safe_load(SOURCES_FILE.read_text())
    assert set(data) == {'/**/doa_node'}
    overrides = data['/**/doa_node']['ros__parameters']
    assert set(overrides) <= set(doa_node.PARAMETERS)
    values = {**yaml.safe_load(PARAMS_FILE.read_text())['/**/doa_node']['ros__parameters'], **overrides}
    config = doa_node.config_from_parameters(values)
    assert (config.method, config.max_sources, config.window_s) == ('zone-net', 3, 0.5), config
    assert config.tracker.measurement_std_deg == 6.0  # ZoneNet's peaks (av_pose.sources.frontend)
    assert config.tracker.accel_std_deg_s2 == 10.0 and config.zone_net_threshold == ZONE_NET_THRESHOLD == 0.65
    assert (overrides['method'], overrides['max_sources']) != (doa_node.PARAMETERS['method'][0],
                                                               doa_node.PARAMETERS['max_sources'][0])


def test_ekf_example_fuses_the_node_twist():
    params = yaml.safe_load((REPO_ROOT / 'config' / 'ekf.yaml').read_text())['/**/ekf_filter_node']['ros__parameters']
    assert params['twist0'] == 'pose/twist' and params['world_frame'] == params['odom_frame'] == 'odom'
    fused = [i for i, on in enumerate(params['twist0_config']) if on]
    assert fused == [11]  # vyaw only: the default translation_scale (none) leaves the linear twist unknown
    assert params['base_link_frame'] == pose_node.PARAMETERS['base_frame'][0]


def test_rviz_config_shows_what_the_nodes_publish():
    config = yaml.safe_load((REPO_ROOT / 'config' / 'av_pose.rviz').read_text())['Visualization Manager']
    topics = {d['Class'].split('/')[-1]: d['Topic']['Value'] for d in config['Displays'] if 'Topic' in d}
    sources = ''.join((REPO_ROOT / 'av_pose' / 'ros' / f'{name}.py').read_text() for name in NODES)
    published = set(re.findall(r"create_publisher\(\w+, '([\w/]+)'", sources))
    assert {'pose/odometry', 'pose/markers', 'doa/markers', 'doa/spectrum'} <= published
    assert {v for k, v in topics.items() if k != 'Image'} | {'doa/markers'} <= published
    assert topics['Odometry'] == 'pose/odometry' and topics['LaserScan'] == 'doa/spectrum'
    assert topics['Image'] == 'camera/image_raw'  # pose.launch.py's default image_topic
    assert config['Global Options']['Fixed Frame'] == pose_node.PARAMETERS['odom_frame'][0]
    assert {'TF', 'MarkerArray'} <= {d['Class'].split('/')[-1] for d in config['Displays']}


def test_setup_installs_existing_files_and_entry_points():
    tree = ast.parse((REPO_ROOT / 'setup.py').read_text())
    patterns = [call.args[0].value for call in _calls(tree, 'glob')]
    assert patterns and all(glob.glob(str(REPO_ROOT / p)) for p in patterns), patterns
    (setup,) = _calls(tree, 'setup')
    scripts = ast.literal_eval(_keywords(setup)['entry_points'])['console_scripts']
    entries = dict(line.replace(' ', '').split('=') for line in scripts)
    assert {'doa_node', 'pose_node', 'source_map_node', 'av-pose'} <= set(entries)
    for target in entries.values():
        module, function = target.split(':')
        assert callable(getattr(importlib.import_module(module), function))


def _ros_imports() -> set[str]:
    """Top-level ROS packages imported anywhere in av_pose (Python imports and message type strings)."""
    names = set()
    for path in (REPO_ROOT / 'av_pose').rglob('*.py'):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split('.')[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split('.')[0])
    ros = {n for n in names if n.endswith('_msgs') or n.endswith('_interfaces') or n in (
        'rclpy', 'tf2_ros', 'launch', 'launch_ros', 'ament_index_python')}
    return ros


def test_package_xml_declares_what_is_imported_and_nothing_unused():
    root = ET.parse(REPO_ROOT / 'package.xml').getroot()
    depends = {e.text for e in root.findall('exec_depend')}
    imported = _ros_imports() | {'audio_common_msgs', 'launch', 'launch_ros', 'ament_index_python'}  # default
    missing = imported - depends - {'audio_utils_msgs'}  # an optional family, documented in package.xml
    assert not missing, missing
    ros_depends = {d for d in depends if not d.startswith('python3-')}
    assert not ros_depends - imported, ros_depends - imported  # e.g. message_filters, cv_bridge: nothing uses them
    assert 'python3-opencv' in depends and 'rcl_interfaces' in depends


def test_launch_descriptions_build():
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    from launch.actions import DeclareLaunchArgument, GroupAction

    try:
        get_package_share_directory('av_pose')
    except PackageNotFoundError:
        pytest.skip('av_pose is not installed in an ament prefix (colcon build)')
    for path, expected in ((DOA_LAUNCH, NAV2_ARGUMENTS), (POSE_LAUNCH, POSE_ARGUMENTS)):
        description = _load(path).generate_launch_description()
        arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
        assert expected <= set(arguments)
        assert arguments['params_file'].default_value[0].text.endswith('config/av_pose.yaml')
        assert sum(isinstance(e, GroupAction) for e in description.entities) == 1
