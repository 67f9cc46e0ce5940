from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdret.registry import HOOKS
from mmdret.utils.feature_cache import describe_mismatch, encoder_fingerprint, regenerate_command


def cached_feature_datasets(dataset):
    """``CachedFeatureDataset`` instances in ``dataset`` (looking through dataset wrappers).

    Args:
        dataset (Dataset): a dataset, possibly a wrapper holding others (``datasets``,
            ``dataset`` or ``_dataset``, searched recursively).

    Returns:
        list[CachedFeatureDataset]: the cached-feature datasets found, depth first.
    """
    from mmdret.datasets.cached_feature_dataset import CachedFeatureDataset
    if isinstance(dataset, CachedFeatureDataset):
        return [dataset]
    # ConcatDataset-like (datasets), RepeatDataset-like (dataset), the runner's slicing for
    # num_batch_per_epoch (_dataset).
    children = list(getattr(dataset, 'datasets', None) or [])
    children += [vars(dataset).get(name) for name in ('dataset', '_dataset')]
    found = []
    for child in children:
        if child is not None and child is not dataset:
            found.extend(cached_feature_datasets(child))
    return found


@HOOKS.register_module()
class FeatureCacheCheckHook(Hook):
    """Refuse feature caches that were not extracted with this model's (frozen) encoder.

    Before training, validation and testing (after ``load_from`` has filled the model, unlike
    ``before_run``), the fingerprint of every ``CachedFeatureDataset`` of the loop is compared
    with the fingerprint of the model's encoder (``model.encoder`` config section + weights, see
    :mod:`mmdret.utils.feature_cache`); a mismatch raises ``ValueError`` naming the cache, both
    fingerprints, what differs and the command regenerating the cache. Loops without cached
    datasets are not checked. Each dataset is checked once.

    Args:
        encoder_cfg (dict, optional): the encoder config to fingerprint. Defaults to
            ``runner.cfg.model.encoder``.
    """
    priority = 'VERY_HIGH'

    def __init__(self, encoder_cfg=None):
        self.encoder_cfg = encoder_cfg
        self._checked = set()

    def before_train(self, runner):
        self.check(runner, runner.train_loop.dataloader, 'train_dataloader')

    def before_val(self, runner):
        self.check(runner, runner.val_loop.dataloader, 'val_dataloader')

    def before_test(self, runner):
        self.check(runner, runner.test_loop.dataloader, 'test_dataloader')

    def model_fingerprint(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        encoder_cfg = self.encoder_cfg
        if encoder_cfg is None:
            encoder_cfg = runner.cfg.get('model', {}).get('encoder')
        if encoder_cfg is None:
            raise ValueError(f'{type(self).__name__}: the config has no model.encoder; pass '
                             'encoder_cfg')
        return encoder_fingerprint(encoder_cfg, model.encoder)

    def check(self, runner, dataloader, name):
        datasets = [d for d in cached_feature_datasets(dataloader.dataset)
                    if id(d) not in self._checked]
        if not datasets:
            return
        expected = self.model_fingerprint(runner)
        for dataset in datasets:
            meta = dataset.feature_meta
            if meta['fingerprint'] != expected['fingerprint']:
                split = 'test' if dataset.test_mode else 'train'
                raise ValueError(
                    f'{name}: feature cache {dataset.feature_file!r} was extracted with a '
                    f'different encoder than this model has{describe_mismatch(meta, expected)}: '
                    f'cache fingerprint {meta["fingerprint"]} (config sha1 '
                    f'{meta.get("encoder_config_sha1")}, weights sha1 '
                    f'{meta.get("encoder_state_sha1")}, from checkpoint '
                    f'{meta.get("checkpoint")!r}) vs model fingerprint '
                    f'{expected["fingerprint"]} (config sha1 {expected["encoder_config_sha1"]}, '
                    f'weights sha1 {expected["encoder_state_sha1"]}; load_from '
                    f'{runner.cfg.get("load_from")!r}). Set load_from to the stage-1 checkpoint '
                    'the cache was made from, or regenerate the cache from this one: '
                    + regenerate_command(dataset.feature_file, split,
                                         meta.get('config') or 'STAGE1_CONFIG',
                                         runner.cfg.get('load_from') or 'STAGE1_CHECKPOINT'))
            self._checked.add(id(dataset))
        runner.logger.info(f'{name}: feature cache fingerprint matches the model encoder '
                           f'({expected["fingerprint"]})')
