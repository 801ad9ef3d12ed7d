"""ament_python / pip build of av_pose."""
from glob import glob

from setuptools import find_packages, setup

package_name = 'av_pose'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={package_name: ['weights/*.pt', 'weights/*.md']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.rviz')),
        ('share/' + package_name + '/config/train', glob('config/train/*.yaml')),
        # the message definitions bag writing needs, where no av_pose_msgs is installed (a pip install)
        ('share/' + package_name + '/av_pose_msgs/msg', glob('av_pose_msgs/msg/*.msg')),
    ],
    python_requires='>=3.10',
    install_requires=[
        'setuptools',
        'numpy',
        'scipy',
        'pyyaml',
        'tqdm',
        'matplotlib',
        'torch>=2.1',
        'pyroomacoustics>=0.7',
        'opencv-python-headless>=4.8',
        'safetensors>=0.4',
    ],
    extras_require={
        'bag': ['rosbags>=0.10', 'evo>=1.30'],  # av-pose bag: evo scores ATE/RPE
        'scenes': ['scikit-image>=0.21', 'rosbags>=0.10'],
        'test': ['pytest', 'pytest-timeout', 'pytest-xdist', 'ruff', 'h5py', 'colcon-common-extensions', 'rosbags>=0.10',
                 'scikit-image>=0.21', 'evo>=1.30'],
    },
    zip_safe=True,
    maintainer='av_pose maintainers',
    maintainer_email='maintainers@av-pose.org',
    description='Audio-visual DOA, sound azimuth and relative camera pose for ROS 2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'av-pose = av_pose.cli:main',
            'doa_node = av_pose.ros.entry:doa_node',
            'pose_node = av_pose.ros.entry:pose_node',
            'source_map_node = av_pose.ros.entry:source_map_node',
        ],
    },
)
