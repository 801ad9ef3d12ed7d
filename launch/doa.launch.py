"""Bring up av_pose's audio DOA node alone.

    ros2 launch av_pose doa.launch.py namespace:=robot1 audio_topic:=/mic/audio use_sim_time:=true

Arguments follow nav2_bringup: namespace, use_sim_time, params_file, log_level, use_respawn; plus the audio
topics, remapped onto the node's relative `audio` and `audio_info` inputs, and `sources` (track several sound
sources: `sources_params_file`, config/sources.yaml by default, is passed after params_file, so its ZoneNet
settings win). `use_sim_time` is passed last, so the launch argument wins over a `use_sim_time` in either file.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, GroupAction, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterFile, ParameterValue

from launch import LaunchDescription

try:  # Jazzy and later
    from launch_ros.actions import PushROSNamespace
except ImportError:  # Humble
    from launch_ros.actions import PushRosNamespace as PushROSNamespace


def doa_node(context) -> list:
    """doa_node with the params file, then (sources:=true) the several-sources file, then use_sim_time."""
    files = [ParameterFile(LaunchConfiguration('params_file'), allow_substs=True)]
    if LaunchConfiguration('sources').perform(context).strip().lower() in ('true', '1', 'yes'):
        files.append(ParameterFile(LaunchConfiguration('sources_params_file'), allow_substs=True))
    return [Node(
        package='av_pose',
        executable='doa_node',
        name='doa_node',
        output='screen',
        respawn=LaunchConfiguration('use_respawn'),
        respawn_delay=2.0,
        parameters=[*files, {'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)}],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
        remappings=[('audio', LaunchConfiguration('audio_topic')),
                    ('audio_info', LaunchConfiguration('audio_info_topic'))],
    )]


def generate_launch_description() -> LaunchDescription:
    share_dir = get_package_share_directory('av_pose')

    namespace = LaunchConfiguration('namespace')

    arguments = [
        DeclareLaunchArgument('namespace', default_value='', description='Top-level namespace'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use the /clock topic (bag replay with --clock); wins over the params file'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share_dir, 'config', 'av_pose.yaml'),
                              description='Full path to the ROS 2 parameters file (keys /**/doa_node, /**/pose_node)'),
        DeclareLaunchArgument('log_level', default_value='info', description='Log level'),
        DeclareLaunchArgument('use_respawn', default_value='false', description='Restart a node if it exits'),
        DeclareLaunchArgument('audio_topic', default_value='audio',
                              description='Audio topic (type set by the audio_msg_type parameter)'),
        DeclareLaunchArgument('audio_info_topic', default_value='audio_info',
                              description='Latched audio_common_msgs/AudioInfo topic (AudioDataStamped input)'),
        DeclareLaunchArgument('sources', default_value='false',
                              description='Track several sound sources: pass sources_params_file after params_file'),
        DeclareLaunchArgument('sources_params_file', default_value=os.path.join(share_dir, 'config', 'sources.yaml'),
                              description='doa_node parameters for several sources (ZoneNet), used with '
                                          'sources:=true; its keys win over params_file'),
    ]

    nodes = GroupAction([PushROSNamespace(namespace), OpaqueFunction(function=doa_node)])
    return LaunchDescription([*arguments, nodes])
