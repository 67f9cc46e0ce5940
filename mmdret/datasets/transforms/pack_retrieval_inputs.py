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

    Args:
        max_frames (int): frames after padding. Defaults to 12.
    """

    def __init__(self, max_frames=12):
        self.max_frames = max_frames

    def transform(self, results):
        frames = np.stack(results['imgs'])[:self.max_frames]
        video = torch.zeros((self.max_frames, 3, *frames.shape[1:3]), dtype=torch.uint8)
        video[:len(frames)] = torch.from_numpy(frames).permute(0, 3, 1, 2)
        video_mask = torch.zeros(self.max_frames, dtype=torch.long)
        video_mask[:results['num_valid_frames']] = 1
        sample = BaseDataElement(metainfo={key: results[key] for key in META_KEYS
                                           if key in results})
        sample.set_metainfo(dict(corrupt_video=bool(results.get('video_decode_failed'))))
        inputs = dict(video=video, video_mask=video_mask, text=results['text'],
                      text_mask=results['text_mask'])
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self):
        return f'{type(self).__name__}(max_frames={self.max_frames})'
