from .retrieval_loop import RetrievalEvaluation, RetrievalTestLoop, RetrievalValLoop
from .safe_load_runner import SafeLoadRunner

__all__ = ['RetrievalEvaluation', 'RetrievalTestLoop', 'RetrievalValLoop', 'SafeLoadRunner']
