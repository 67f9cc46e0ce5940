from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from mmdret.registry import TRANSFORMS
from mmdret.utils.feature_cache import CACHED_INPUT_KEYS
from .pack_retrieval_inputs import META_KEYS


@TRANSFORMS.register_module()
class PackCachedFeatures(BaseTransform):
    """Pack cached stage-1 features (``CachedFeatureDataset``) into ``inputs`` and a data sample.

    ``inputs``: ``text_tokens`` (N, L, D), ``text_mask`` (N, L), ``text_eot`` (N, D),
    ``video_frames`` (T, D) and ``video_mask`` (T,), in the cache's dtype (the data preprocessor
    casts features to float32). The data sample's metainfo is that of ``PackRetrievalInputs``:
    ``video_idx``, ``text_idx`` (list), ``video_id`` and ``corrupt_video``.
    """

    def transform(self, results):
        missing = [key for key in CACHED_INPUT_KEYS if key not in results]
        if missing:
            raise KeyError(f'{type(self).__name__} needs the cached features {missing}; use it '
                           'in the pipeline of CachedFeatureDataset')
        inputs = {key: results[key] for key in CACHED_INPUT_KEYS}
        sample = BaseDataElement(metainfo={key: results[key] for key in META_KEYS
                                           if key in results})
        sample.set_metainfo(dict(corrupt_video=bool(results.get('corrupt'))))
        return dict(inputs=inputs, data_samples=sample)
