from .load_video_frames import LoadVideoFrames, VideoDecodeError
from .pack_cached_features import PackCachedFeatures  # noqa: F401
from .pack_retrieval_inputs import PackRetrievalInputs
from .tokenize_captions import TokenizeCaptions

__all__ = ['LoadVideoFrames', 'PackRetrievalInputs', 'TokenizeCaptions', 'VideoDecodeError']
