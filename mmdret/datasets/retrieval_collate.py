"""Batching of packed retrieval items inside the dataloader workers."""
from mmengine.dataset import pseudo_collate

from mmdret.registry import FUNCTION
from mmdret.utils.batching import batch_inputs


@FUNCTION.register_module()
def retrieval_collate(data_batch):
    """``pseudo_collate`` with the frames and captions already joined into batch tensors.

    Joining in the worker hands the main process one shared-memory tensor per key instead of
    one per item, and takes the copy off the training step. The data preprocessor accepts both
    this and ``pseudo_collate``'s lists.

    Args:
        data_batch (Sequence[dict]): packed items (``inputs`` and ``data_samples``).

    Returns:
        dict: ``inputs`` with batched tensors, ``data_samples`` as a list.
    """
    batch = pseudo_collate(data_batch)
    batch['inputs'] = batch_inputs(batch['inputs'])
    return batch
