import os
import sys

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('OMP_NUM_THREADS', '2')
# tests/ holds plain helper modules (tool_loader) imported by tests in any subfolder.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
