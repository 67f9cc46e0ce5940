from .text_video_retrieval_inferencer import TextVideoRetrievalInferencer  # noqa: F401
