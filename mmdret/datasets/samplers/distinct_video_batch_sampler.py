from torch.utils.data import BatchSampler

from mmdret.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class DistinctVideoBatchSampler(BatchSampler):
    """Batches in which no video appears twice.

    The official code lets several captions of one video share a batch, where the contrastive
    loss treats them as negatives of each other. This batch sampler defers such an item to the
    next batch instead (order otherwise follows ``sampler``), so every batch holds distinct
    videos.

    Args:
        sampler (Sampler): index sampler; its ``dataset`` must expose ``get_data_info``.
        batch_size (int): items per batch.
        drop_last (bool): drop the last incomplete batch(es). Defaults to True (contrastive
            batches should have the configured size).
        key (str): data-info key that identifies a video. Defaults to ``'video_idx'``.
    """

    def __init__(self, sampler, batch_size, drop_last=True, key='video_idx'):
        super().__init__(sampler, batch_size, drop_last)
        dataset = sampler.dataset
        self.keys = [dataset.get_data_info(i)[key] for i in range(len(dataset))]

    def _take(self, batch, used, index):
        if len(batch) < self.batch_size and self.keys[index] not in used:
            batch.append(index)
            used.add(self.keys[index])
            return True
        return False

    def __iter__(self):
        batch, used, deferred = [], set(), []
        for index in self.sampler:
            if not self._take(batch, used, index):
                deferred.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch, used = [], set()
                deferred = [i for i in deferred if not self._take(batch, used, i)]
        while batch and not self.drop_last:
            yield batch
            batch, used = [], set()
            deferred = [i for i in deferred if not self._take(batch, used, i)]
