from .retrieval_data_preprocessor import RetrievalDataPreprocessor

__all__ = ['RetrievalDataPreprocessor']
