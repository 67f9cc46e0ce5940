import torch
from mmengine.model import BaseDataPreprocessor

from mmdret.registry import MODELS
from mmdret.utils.batching import batch_inputs


@MODELS.register_module()
class RetrievalDataPreprocessor(BaseDataPreprocessor):
    """Batch videos and captions: normalise frames, concatenate every item's captions.

    Padded frames are zero *after* normalisation, as the official loader pads normalised frames.

    Items come as ``pseudo_collate`` lists or already batched by ``retrieval_collate``.
    Batches of cached stage-1 features (``PackCachedFeatures``: ``video_frames``, ``video_mask``,
    ``text_tokens``, ``text_mask``, ``text_eot``) are batched the same way, per-video tensors
    stacked and per-text tensors concatenated across items, with features cast to float32 and no
    pixel normalisation.

    Args:
        mean (Sequence[float]): per-channel pixel mean in 0-255 RGB. Defaults to CLIP's.
        std (Sequence[float]): per-channel pixel std in 0-255 RGB. Defaults to CLIP's.
    """

    def __init__(self, mean=(122.77094, 116.74601, 104.09373),
                 std=(68.50024, 66.63205, 70.32316)):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean).view(1, 1, 3, 1, 1), False)
        self.register_buffer('std', torch.tensor(std).view(1, 1, 3, 1, 1), False)

    def forward(self, data, training=False):
        data = self.cast_data(data)
        inputs = batch_inputs(data['inputs'])
        if 'video_frames' in inputs:
            return dict(inputs=self.batch_cached(inputs), data_samples=data['data_samples'])
        video_mask = inputs['video_mask']
        # In place on the one float copy: no temporaries of the largest tensor of the step.
        video = inputs['video'].to(torch.float32, copy=True).sub_(self.mean).div_(self.std)
        video.mul_(video_mask[:, :, None, None, None])
        batch = dict(video=video, video_mask=video_mask, text=inputs['text'],
                     text_mask=inputs['text_mask'])
        return dict(inputs=batch, data_samples=data['data_samples'])

    @staticmethod
    def batch_cached(inputs):
        return dict(video_frames=inputs['video_frames'].float(),
                    video_mask=inputs['video_mask'],
                    text_tokens=inputs['text_tokens'].float(),
                    text_mask=inputs['text_mask'],
                    text_eot=inputs['text_eot'].float())
