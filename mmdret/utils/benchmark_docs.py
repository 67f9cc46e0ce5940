"""What a benchmark figure needs beside it: the machine it was measured on, and its section of
``docs/benchmarks.md`` replaced in place when the benchmark is run again."""
import os
import os.path as osp
import platform
import re
import subprocess
import time

import torch


def cpu_isa() -> str:
    """The CPU's widest vector extensions (``/proc/cpuinfo`` flags) and the kernels torch
    dispatches to (``ATEN_CPU_CAPABILITY`` can lower them).

    Returns:
        str: e.g. ``'flags avx2 avx512f, torch kernels AVX512'``.
    """
    try:
        flags = set(re.search(r'^flags\s*:(.*)$', open('/proc/cpuinfo').read(), re.M)
                    .group(1).split())
    except (OSError, AttributeError):
        flags = set()
    listed = [f for f in ('avx2', 'avx512f', 'avx512_bf16', 'amx_tile') if f in flags]
    return (f"flags {' '.join(listed) or 'unknown'}, torch kernels "
            f"{torch.backends.cpu.get_cpu_capability()}")


def machine_description() -> dict:
    """CPU model, logical CPUs, torch threads, GPU, vector extensions, versions and load.

    Returns:
        dict: Keys ``cpu``, ``logical_cpus``, ``threads``, ``gpu`` (None without CUDA), ``isa``
        (:func:`cpu_isa`), ``torch``, ``python``, ``load`` (1/5/15-minute load averages).
    """
    model_name = platform.processor() or platform.machine()
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, check=True).stdout
        match = re.search(r'^Model name:\s*(.+)$', out, re.M)
        model_name = match.group(1).strip() if match else model_name
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        load = open('/proc/loadavg').read().split()[:3]
    except OSError:
        load = ['?'] * 3
    return dict(cpu=model_name, logical_cpus=os.cpu_count(), threads=torch.get_num_threads(),
                gpu=(torch.cuda.get_device_name() if torch.cuda.is_available() else None),
                isa=cpu_isa(), torch=torch.__version__, python=platform.python_version(),
                load=' '.join(load))


def machine_summary(machine: dict) -> str:
    """One line naming the machine of :func:`machine_description`.

    Args:
        machine (dict): what :func:`machine_description` returned.

    Returns:
        str: e.g. ``'AMD EPYC, 2 logical CPUs, flags avx2, torch kernels AVX2, 2 torch threads,
        torch 2.14.1, Python 3.11.7'``.
    """
    return (f"{machine['cpu']}, {machine['logical_cpus']} logical CPUs, {machine['isa']}, "
            f"{machine['threads']} torch threads, torch {machine['torch']}, Python "
            f"{machine['python']}")


def replace_docs_section(path: str, mark: str, label: str, command: str, markdown: str) -> None:
    """Replace the section ``label`` of benchmark ``mark`` in the markdown file ``path`` (append
    it where there is none), headed by the command that produced it and the time.

    Args:
        path (str): The markdown file, created if missing.
        mark (str): The benchmark's name, part of the section's begin/end comments.
        label (str): The section's heading; one section per label.
        command (str): The command line that measured the figures.
        markdown (str): The section's body.
    """
    begin, end = f'<!-- {mark}[{label}]:begin -->', f'<!-- {mark}[{label}]:end -->'
    section = '\n'.join([begin, f'### {label}', '',
                         f'`{command.strip()}`, {time.strftime("%Y-%m-%d %H:%M")}:', '',
                         markdown, end])
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    old = open(path).read() if osp.exists(path) else '# Benchmarks\n'
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + section + rest.split(end, 1)[1]
    else:
        new = old.rstrip('\n') + '\n\n' + section + '\n'
    with open(path, 'w') as f:
        f.write(new)
