"""Bring up av_pose: `doa_node` (via doa.launch.py), `pose_node`, `source_map_node`, optionally RViz.

    ros2 launch av_pose pose.launch.py namespace:=robot1 image_topic:=/camera/image_raw \
        camera_info_topic:=/camera/camera_info audio_topic:=/mic/audio use_sim_time:=true rviz:=true

Arguments follow nav2_bringup (namespace, use_sim_time, params_file, log_level, use_respawn), plus the input
topics (remapped onto the nodes' relative inputs), `model` and `device` (empty: as the params file says),
`wheel_odometry_topic` (a robot's wheel odometry: pose_node's metric scale and travel, `translation_scale:
odometry`), `sources` (default true: `doa_node` tracks several sources with `sources_params_file`,
config/sources.yaml, passed after the params file, and `source_map_node` maps them), `odom_topic` (the odometry it
places bearings with) and `rviz`. `use_sim_time`, `model`, `device`, `planar_motion` and the wheel odometry's
scale are passed after the params file, so the launch arguments win.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterFile, ParameterValue

from launch import LaunchDescription

try:  # Jazzy and later
    from launch_ros.actions import PushROSNamespace
except ImportError:  # Humble
    from launch_ros.actions import PushRosNamespace as PushROSNamespace

SHARED_ARGUMENTS = ('namespace', 'use_sim_time', 'params_file', 'log_level', 'use_respawn', 'audio_topic',
                    'audio_info_topic', 'sources', 'sources_params_file')
"""The arguments doa.launch.py takes; forwarded to it."""


def pose_node_overrides(context) -> list:
    """The parameters that win over the params file: use_sim_time always, model, device and planar_motion when
    given, and translation_scale odometry with a wheel_odometry_topic (remapped onto scale_odometry)."""
    overrides = {'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)}
    for name in ('model', 'device'):
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    if LaunchConfiguration('planar_motion').perform(context):
        overrides['planar_motion'] = ParameterValue(LaunchConfiguration('planar_motion'), value_type=bool)
    wheels = LaunchConfiguration('wheel_odometry_topic').perform(context)
    if wheels:
        overrides['translation_scale'] = 'odometry'
    return [Node(
        package='av_pose',
        executable='pose_node',
        name='pose_node',
        output='screen',
        respawn=LaunchConfiguration('use_respawn'),
        respawn_delay=2.0,
        parameters=[ParameterFile(LaunchConfiguration('params_file'), allow_substs=True), overrides],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
        remappings=[('image', LaunchConfiguration('image_topic')),
                    ('camera_info', LaunchConfiguration('camera_info_topic')),
                    ('audio', LaunchConfiguration('audio_topic')),
                    ('audio_info', LaunchConfiguration('audio_info_topic')),
                    ('scale_odometry', wheels or 'scale_odometry')],
    )]


def generate_launch_description() -> LaunchDescription:
    share_dir = get_package_share_directory('av_pose')
    doa_launch = os.path.join(share_dir, 'launch', 'doa.launch.py')

    namespace = LaunchConfiguration('namespace')
    use_sim_time = LaunchConfiguration('use_sim_time')
    rviz = LaunchConfiguration('rviz')
    params_file = LaunchConfiguration('params_file')

    arguments = [
        DeclareLaunchArgument('namespace', default_value='', description='Top-level namespace'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use the /clock topic (bag replay with --clock); wins over the params file'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share_dir, 'config', 'av_pose.yaml'),
                              description='Full path to the ROS 2 parameters file (keys /**/doa_node, /**/pose_node)'),
        DeclareLaunchArgument('log_level', default_value='info', description='Log level'),
        DeclareLaunchArgument('use_respawn', default_value='false', description='Restart a node if it exits'),
        DeclareLaunchArgument('image_topic', default_value='camera/image_raw',
                              description='sensor_msgs/Image topic (or the .../compressed one with the '
                                          'image_transport parameter set to compressed)'),
        DeclareLaunchArgument('camera_info_topic', default_value='camera/camera_info',
                              description='sensor_msgs/CameraInfo topic (intrinsics for the geometric estimator)'),
        DeclareLaunchArgument('audio_topic', default_value='audio',
                              description='Audio topic (type set by the audio_msg_type parameter)'),
        DeclareLaunchArgument('audio_info_topic', default_value='audio_info',
                              description='Latched audio_common_msgs/AudioInfo topic (AudioDataStamped input)'),
        DeclareLaunchArgument('model', default_value='',
                              description='Pose estimator (geometric, geometric-vision, geometric-audio, a shipped '
                                          'model or a checkpoint path); empty: the params file value'),
        DeclareLaunchArgument('device', default_value='',
                              description='auto | cpu | cuda for pose_node; empty: the params file value'),
        DeclareLaunchArgument('planar_motion', default_value='',
                              description='true on a ground robot: the geometric estimator fits the turn and the '
                                          'heading only (pose_node planar_motion); empty: the params file value'),
        DeclareLaunchArgument('wheel_odometry_topic', default_value='',
                              description='nav_msgs/Odometry of the robot\'s wheels (e.g. /odom): pose_node takes '
                                          'its distance and, through its child frame on /tf_static, its travel '
                                          '(translation_scale odometry); empty: the params file\'s scale'),
        DeclareLaunchArgument('sources', default_value='true',
                              description='Track several sound sources (doa_node with sources_params_file) and '
                                          'start source_map_node: a world map of them'),
        DeclareLaunchArgument('sources_params_file', default_value=os.path.join(share_dir, 'config', 'sources.yaml'),
                              description='doa_node parameters for several sources (ZoneNet), used with '
                                          'sources:=true; its keys win over params_file'),
        DeclareLaunchArgument('odom_topic', default_value='pose/odometry',
                              description='nav_msgs/Odometry for the source map (pose_node\'s by default; '
                                          'odometry/filtered with robot_localization)'),
        DeclareLaunchArgument('rviz', default_value='false', description='Start RViz with config/av_pose.rviz'),
    ]

    doa = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(doa_launch),
        launch_arguments={name: LaunchConfiguration(name) for name in SHARED_ARGUMENTS}.items())

    pose = GroupAction([
        PushROSNamespace(namespace),
        OpaqueFunction(function=pose_node_overrides),
        Node(
            package='av_pose',
            executable='source_map_node',
            name='source_map_node',
            output='screen',
            respawn=LaunchConfiguration('use_respawn'),
            respawn_delay=2.0,
            parameters=[ParameterFile(params_file, allow_substs=True),
                        {'use_sim_time': ParameterValue(use_sim_time, value_type=bool)}],
            arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
            remappings=[('odom', LaunchConfiguration('odom_topic'))],
            condition=IfCondition(LaunchConfiguration('sources')),
        ),
        Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            output='screen',
            arguments=['-d', os.path.join(share_dir, 'config', 'av_pose.rviz')],
            parameters=[{'use_sim_time': ParameterValue(use_sim_time, value_type=bool)}],
            condition=IfCondition(rviz),
        ),
    ])

    return LaunchDescription([*arguments, doa, pose])
