"""Joining packed retrieval items into batch tensors (shared by the collate function and the
data preprocessor)."""
import torch

# Per-video tensors (stacked into a batch) and per-caption tensors (concatenated: an item may
# carry several captions), as PackRetrievalInputs and PackCachedFeatures write them.
VIDEO_KEYS = ('video', 'video_mask', 'video_frames')
TEXT_KEYS = ('text', 'text_mask', 'text_tokens', 'text_eot')


def batch_inputs(inputs: dict) -> dict:
    """Stack the per-video and concatenate the per-caption tensors of ``inputs``.

    Entries that are already tensors (batched by :func:`retrieval_collate`) are kept; other keys
    are left as they are.

    Args:
        inputs (dict): key -> list of per-item tensors (``pseudo_collate``) or a batched tensor.

    Returns:
        dict: the same keys with batched tensors for the keys above.
    """
    batched = dict(inputs)
    for keys, join in ((VIDEO_KEYS, torch.stack), (TEXT_KEYS, torch.cat)):
        for key in keys:
            if key in batched and not isinstance(batched[key], torch.Tensor):
                batched[key] = join(batched[key])
    return batched
