from .text_video_retrieval_metric import TextVideoRetrievalMetric

__all__ = ['TextVideoRetrievalMetric']
