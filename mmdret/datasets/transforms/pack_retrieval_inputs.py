import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from mmdret.registry import TRANSFORMS

META_KEYS = ('video_id', 'video_idx', 'text_idx', 'filename')


@TRANSFORMS.register_module()
class PackRetrievalInputs(BaseTransform):
    """Pack frames, captions and indices into ``inputs`` and a data sample.

    ``inputs``: ``video`` (max_frames, 3, H, W) uint8 zero-padded, ``video_mask`` (max_frames,),
    ``text`` (N, L) and ``text_mask`` (N, L). The data sample's metainfo holds ``video_idx``,
    ``text_idx`` (list), ``video_id`` and ``corrupt_video``.

    Besides :class:`LoadVideoFrames`, the frames may come from mmaction2's ``DecordInit`` +
    ``UniformSample`` + ``DecordDecode`` (+ ``Resize`` / ``CenterCrop``): ``imgs`` is then a list
    (or an array) of (H, W, 3) frames without ``num_valid_frames``, and all of them count as
    real. Items of a dataset that numbers neither videos nor captions (mmaction2's
    ``VideoTextDataset``: one video-caption pair per item) get mmengine's ``sample_idx`` as both
    ``video_idx`` and ``text_idx``, so each pair is its own video and its own caption, as
    mmaction2's ``RetrievalMetric`` counts them.

    Args:
        max_frames (int): frames after padding; more frames than this is an error (the sampler
            must read at most ``max_frames``, e.g. ``UniformSample(clip_len <= max_frames)``).
            Defaults to 12.
    """

    def __init__(self, max_frames=12):
        self.max_frames = max_frames

    def transform(self, results):
        frames = np.stack(results['imgs'])
        if len(frames) > self.max_frames:
            raise ValueError(
                f'{type(self).__name__}(max_frames={self.max_frames}) got {len(frames)} frames '
                f'of {results.get("filename")!r}; read at most max_frames frames per video '
                '(LoadVideoFrames max_frames, or UniformSample clip_len x num_clips)')
        video = torch.zeros((self.max_frames, 3, *frames.shape[1:3]), dtype=torch.uint8)
        video[:len(frames)] = torch.from_numpy(frames).permute(0, 3, 1, 2)
        video_mask = torch.zeros(self.max_frames, dtype=torch.long)
        video_mask[:results.get('num_valid_frames', len(frames))] = 1
        meta = {key: results[key] for key in META_KEYS if key in results}
        if 'video_idx' not in meta and 'sample_idx' in results:
            meta.update(video_idx=results['sample_idx'], text_idx=[results['sample_idx']])
        sample = BaseDataElement(metainfo=meta)
        sample.set_metainfo(dict(corrupt_video=bool(results.get('video_decode_failed'))))
        inputs = dict(video=video, video_mask=video_mask, text=results['text'],
                      text_mask=results['text_mask'])
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self):
        return f'{type(self).__name__}(max_frames={self.max_frames})'
