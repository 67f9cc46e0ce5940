from pathlib import Path

from setuptools import find_packages, setup


def read_requirements(name):
    lines = Path('requirements', name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith('#')]


setup(
    name='mmdret',
    version=Path('mmdret/version.py').read_text().split("'")[1],
    description='Diffusion-based text-video retrieval (DiffusionRet, DITS) as an OpenMMLab plugin',
    long_description=Path('README.md').read_text() if Path('README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    include_package_data=True,
    python_requires='>=3.10',
    # mmaction2 itself is installed with --no-deps (see requirements/mmaction.txt).
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(tests=read_requirements('tests.txt'),
                        faiss=read_requirements('optional.txt')),
    license='Apache License 2.0',
)
