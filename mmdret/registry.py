"""The ``mmdret`` registry scope.

Every registry kind of mmaction2 gets an ``mmdret`` child parented on mmaction2's, so that inside
``default_scope='mmdret'`` unprefixed mmaction2 / mmengine names still resolve through the parent
chain, and an mmaction2 config can name ``type='mmdret.X'`` after
``custom_imports=dict(imports=['mmdret'])``. ``locations`` are imported lazily on first lookup.
"""
from mmaction.registry import DATA_SAMPLERS as MMACTION_DATA_SAMPLERS
from mmaction.registry import DATASETS as MMACTION_DATASETS
from mmaction.registry import EVALUATOR as MMACTION_EVALUATOR
from mmaction.registry import FUNCTION as MMACTION_FUNCTION
from mmaction.registry import HOOKS as MMACTION_HOOKS
from mmaction.registry import INFERENCERS as MMACTION_INFERENCERS
from mmaction.registry import LOG_PROCESSORS as MMACTION_LOG_PROCESSORS
from mmaction.registry import LOOPS as MMACTION_LOOPS
from mmaction.registry import METRICS as MMACTION_METRICS
from mmaction.registry import MODEL_WRAPPERS as MMACTION_MODEL_WRAPPERS
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMACTION_OPTIM_WRAPPER_CONSTRUCTORS
from mmaction.registry import OPTIM_WRAPPERS as MMACTION_OPTIM_WRAPPERS
from mmaction.registry import OPTIMIZERS as MMACTION_OPTIMIZERS
from mmaction.registry import PARAM_SCHEDULERS as MMACTION_PARAM_SCHEDULERS
from mmaction.registry import \
    RUNNER_CONSTRUCTORS as MMACTION_RUNNER_CONSTRUCTORS
from mmaction.registry import RUNNERS as MMACTION_RUNNERS
from mmaction.registry import TASK_UTILS as MMACTION_TASK_UTILS
from mmaction.registry import TRANSFORMS as MMACTION_TRANSFORMS
from mmaction.registry import VISBACKENDS as MMACTION_VISBACKENDS
from mmaction.registry import VISUALIZERS as MMACTION_VISUALIZERS
from mmaction.registry import WEIGHT_INITIALIZERS as MMACTION_WEIGHT_INITIALIZERS
from mmengine.registry import Registry


def _child(name, parent, locations):
    return Registry(name, parent=parent, scope='mmdret', locations=locations)


RUNNERS = _child('runner', MMACTION_RUNNERS, ['mmdret.engine.runner'])
RUNNER_CONSTRUCTORS = _child('runner constructor', MMACTION_RUNNER_CONSTRUCTORS,
                             ['mmdret.engine.runner'])
LOOPS = _child('loop', MMACTION_LOOPS, ['mmdret.engine.runner'])
HOOKS = _child('hook', MMACTION_HOOKS, ['mmdret.engine.hooks'])
DATASETS = _child('dataset', MMACTION_DATASETS, ['mmdret.datasets'])
DATA_SAMPLERS = _child('data sampler', MMACTION_DATA_SAMPLERS, ['mmdret.datasets'])
TRANSFORMS = _child('transform', MMACTION_TRANSFORMS, ['mmdret.datasets.transforms'])
MODELS = _child('model', MMACTION_MODELS, ['mmdret.models'])
MODEL_WRAPPERS = _child('model_wrapper', MMACTION_MODEL_WRAPPERS, ['mmdret.models'])
WEIGHT_INITIALIZERS = _child('weight initializer', MMACTION_WEIGHT_INITIALIZERS,
                             ['mmdret.models'])
OPTIMIZERS = _child('optimizer', MMACTION_OPTIMIZERS, ['mmdret.engine.optimizers'])
OPTIM_WRAPPERS = _child('optim_wrapper', MMACTION_OPTIM_WRAPPERS,
                        ['mmdret.engine.optimizers'])
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMACTION_OPTIM_WRAPPER_CONSTRUCTORS,
                                    ['mmdret.engine.optimizers'])
PARAM_SCHEDULERS = _child('parameter scheduler', MMACTION_PARAM_SCHEDULERS,
                          ['mmdret.engine.optimizers'])
METRICS = _child('metric', MMACTION_METRICS, ['mmdret.evaluation'])
EVALUATOR = _child('evaluator', MMACTION_EVALUATOR, ['mmdret.evaluation'])
# Diffusion schedulers/samplers live here: stateless task utilities shared by both methods.
TASK_UTILS = _child('task util', MMACTION_TASK_UTILS, ['mmdret.models'])
VISUALIZERS = _child('visualizer', MMACTION_VISUALIZERS, ['mmdret.visualization'])
VISBACKENDS = _child('vis_backend', MMACTION_VISBACKENDS, ['mmdret.visualization'])
LOG_PROCESSORS = _child('log_processor', MMACTION_LOG_PROCESSORS, ['mmdret.engine'])
INFERENCERS = _child('inferencer', MMACTION_INFERENCERS, ['mmdret.apis'])
FUNCTION = _child('function', MMACTION_FUNCTION, ['mmdret.models'])
