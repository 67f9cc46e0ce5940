from .base_retriever import BaseRetriever
from .diffusion_ret import DiffusionRet
from .xpool import XPool
from .dits import DITS

__all__ = ['BaseRetriever', 'DiffusionRet', 'XPool', 'DITS']
