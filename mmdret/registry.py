"""The ``mmdret`` registry scope.

Every registry kind of mmaction2 gets an ``mmdret`` child of the same name parented on
mmaction2's, so that inside ``default_scope='mmdret'`` unprefixed mmaction2 / mmengine names still
resolve through the parent chain, and an mmaction2 config can name ``type='mmdret.X'`` after
``custom_imports=dict(imports=['mmdret'])``. ``locations`` are imported lazily on first lookup.
"""
from mmaction import registry as mmaction
from mmengine.registry import Registry


def _child(parent: Registry, *packages: str) -> Registry:
    """The ``mmdret``-scoped child of an mmaction2 registry, with the parent's name.

    Args:
        parent (Registry): The mmaction2 registry to parent on.
        *packages (str): ``mmdret`` sub-packages (without the ``mmdret.`` prefix) whose import
            registers the modules of this kind.
    """
    return Registry(parent.name, parent=parent, scope='mmdret',
                    locations=[f'mmdret.{package}' for package in packages])


RUNNERS = _child(mmaction.RUNNERS, 'engine.runner')
RUNNER_CONSTRUCTORS = _child(mmaction.RUNNER_CONSTRUCTORS, 'engine.runner')
LOOPS = _child(mmaction.LOOPS, 'engine.runner')
HOOKS = _child(mmaction.HOOKS, 'engine.hooks')
LOG_PROCESSORS = _child(mmaction.LOG_PROCESSORS, 'engine')
OPTIMIZERS = _child(mmaction.OPTIMIZERS, 'engine.optimizers')
OPTIM_WRAPPERS = _child(mmaction.OPTIM_WRAPPERS, 'engine.optimizers')
OPTIM_WRAPPER_CONSTRUCTORS = _child(mmaction.OPTIM_WRAPPER_CONSTRUCTORS, 'engine.optimizers')
PARAM_SCHEDULERS = _child(mmaction.PARAM_SCHEDULERS, 'engine.optimizers')
DATASETS = _child(mmaction.DATASETS, 'datasets')
DATA_SAMPLERS = _child(mmaction.DATA_SAMPLERS, 'datasets')
TRANSFORMS = _child(mmaction.TRANSFORMS, 'datasets.transforms')
MODELS = _child(mmaction.MODELS, 'models')
MODEL_WRAPPERS = _child(mmaction.MODEL_WRAPPERS, 'models')
WEIGHT_INITIALIZERS = _child(mmaction.WEIGHT_INITIALIZERS, 'models')
# Diffusion schedulers/samplers live here: stateless task utilities shared by both methods.
TASK_UTILS = _child(mmaction.TASK_UTILS, 'models')
FUNCTION = _child(mmaction.FUNCTION, 'models', 'datasets')
METRICS = _child(mmaction.METRICS, 'evaluation')
EVALUATOR = _child(mmaction.EVALUATOR, 'evaluation')
VISUALIZERS = _child(mmaction.VISUALIZERS, 'visualization')
VISBACKENDS = _child(mmaction.VISBACKENDS, 'visualization')
INFERENCERS = _child(mmaction.INFERENCERS, 'apis')
