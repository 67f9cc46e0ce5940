from .distributed import shutdown_distributed
from .setup_env import register_all_modules, setup_cpu_distributed

__all__ = ['register_all_modules', 'setup_cpu_distributed', 'shutdown_distributed']
