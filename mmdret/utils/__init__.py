from .distributed import owned_process_group
from .setup_env import register_all_modules, setup_cpu_distributed

__all__ = ['owned_process_group', 'register_all_modules', 'setup_cpu_distributed']
