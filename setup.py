"""mmdret's package: ``pip install -e .`` joins an existing mmaction2 environment (docs/install.md).

``install_requires`` holds version ranges; the exact, known-good set that ``tools/install.sh``
puts into a fresh ``.venv`` is ``requirements/lock.txt``.
"""
import os
import os.path as osp
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup

# What OpenMMLab tools look for in <package>/.mim: mim runs .mim/tools/train.py, mmengine reads
# `mmdret::` configs from .mim/configs and the model index from .mim/model-index.yml.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_requirements(name):
    lines = Path('requirements', name).read_text().splitlines()
    return [line.split('#')[0].strip() for line in lines
            if line.split('#')[0].strip()]


def add_mim_extension():
    """Fill ``mmdret/.mim`` with the configs, tools and model index.

    Editable installs (``develop``, PEP 660 ``editable_wheel``) link them, so edits in ``configs/``
    stay live; wheel and sdist builds copy them, so they ship inside the package. Other setup.py
    commands (``egg_info``, ``dist_info``) leave ``.mim`` alone.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'copy' if os.name == 'nt' else 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    root = osp.dirname(osp.abspath(__file__))
    mim_dir = osp.join(root, 'mmdret', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(root, name)
        dst = osp.join(mim_dir, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmdret',
        version=Path('mmdret/version.py').read_text().split("'")[1],
        description='Diffusion-based text-video retrieval (DiffusionRet, DITS) as an OpenMMLab '
                    'plugin',
        long_description=Path('README.md').read_text() if Path('README.md').exists() else '',
        long_description_content_type='text/markdown',
        packages=find_packages(exclude=('configs*', 'tools*', 'tests*', 'docs*')),
        include_package_data=True,  # mmdret/.mim, listed in MANIFEST.in
        python_requires='>=3.10',
        install_requires=read_requirements('runtime.txt'),
        extras_require=dict(tests=read_requirements('tests.txt'),
                            faiss=read_requirements('optional.txt')),
        license='Apache License 2.0',
        zip_safe=False,
    )
