from .retrieval_loop import RetrievalEvaluation, RetrievalTestLoop, RetrievalValLoop

__all__ = ['RetrievalEvaluation', 'RetrievalTestLoop', 'RetrievalValLoop']
