"""Per-item retrieval features of a dataloader, as the retrieval loop and its helpers need them."""
import torch
from mmengine.runner import autocast

from mmdret.utils.distributed import first_occurrence


def concat_features(batches):
    """Concatenate per-batch feature dicts along the first dimension.

    Args:
        batches (list[dict[str, Tensor]]): feature dicts with the same keys (the first one's
            keys are used).

    Returns:
        dict[str, Tensor]: per key, the batches' tensors concatenated in order.
    """
    return {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}


def slice_features(features, part):
    """Rows ``part`` of every tensor of a feature dict.

    Args:
        features (dict[str, Tensor]): feature tensors sharing their first dimension.
        part (Tensor | slice): the rows to take (a slice, an index or a bool mask).

    Returns:
        dict[str, Tensor]: ``features`` with each tensor indexed by ``part``.
    """
    return {key: value[part] for key, value in features.items()}


def unique_local(features):
    """Drop the duplicates that sampler padding adds to a rank's shard.

    Args:
        features (dict[str, Tensor]): a rank's features, with the global ``index`` of each row.

    Returns:
        dict[str, Tensor]: the first row of each distinct ``index``.
    """
    _, first = first_occurrence(features['index'])
    return slice_features(features, first)


def as_float32(features):
    """Cast the floating-point tensors of a feature dict to float32.

    Args:
        features (dict[str, Tensor]): feature tensors.

    Returns:
        dict[str, Tensor]: the floating-point tensors as float32, the others unchanged.
    """
    return {k: v.float() if v.is_floating_point() else v for k, v in features.items()}


def extract_features(model, dataloader, fp16=False, on_batch=None):
    """Text and video features (``model(mode='tensor')``) of this rank's shard of a dataloader,
    fp32, with sampler-padding duplicates dropped.

    Args:
        model (BaseModel): an unwrapped retrieval model in eval mode.
        dataloader (Iterable): batches for ``model.data_preprocessor``.
        fp16 (bool): autocast the forward. Defaults to False.
        on_batch (callable, optional): ``on_batch(stage, batch_idx, data_batch)`` called with
            ``'before'`` and ``'after'`` around every batch (the loops call their hooks here).
    """
    texts, videos = [], []
    for batch_idx, data_batch in enumerate(dataloader):
        if on_batch is not None:
            on_batch('before', batch_idx, data_batch)
        with torch.no_grad(), autocast(enabled=fp16):
            batch = model(**model.data_preprocessor(data_batch, False), mode='tensor')
        texts.append(as_float32(batch['text']))
        videos.append(as_float32(batch['video']))
        if on_batch is not None:
            on_batch('after', batch_idx, data_batch)
    if not texts:
        raise ValueError('the dataloader yielded no batches')
    return dict(text=unique_local(concat_features(texts)),
                video=unique_local(concat_features(videos)))
