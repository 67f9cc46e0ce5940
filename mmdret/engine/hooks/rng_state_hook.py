"""Training randomness that a resume restores: the RNG streams of the train steps go into every
checkpoint."""
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from mmdret.registry import HOOKS

CHECKPOINT_KEY = 'rng_states'


def get_rng_state():
    """The states of Python's, numpy's and torch's (CPU and every CUDA device) global RNGs."""
    return dict(random=random.getstate(), numpy=np.random.get_state(legacy=False),
                torch=torch.get_rng_state(),
                cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])


def set_rng_state(state):
    """Restore a :func:`get_rng_state` state.

    The CUDA states are restored only when the state holds some and CUDA is available.

    Args:
        state (dict): the ``random``, ``numpy``, ``torch`` and ``cuda`` states, as returned by
            :func:`get_rng_state`.
    """
    random.setstate(state['random'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def seed_rng(seed):
    """Seed Python's, numpy's and torch's global RNGs from one integer.

    Args:
        seed (int): the seed (taken modulo ``2**32`` for numpy).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Gives the train steps their own RNG stream, saved in checkpoints and restored on resume,
    so that a resumed run draws the same training noise (diffusion timesteps and noise, DITS
    noise, dropout) as an uninterrupted one, bit for bit.

    mmengine checkpoints do not store RNG states, and much runs between a checkpoint and the
    next train step that draws from the global RNGs differently in a resumed run (validation,
    creating dataloader iterators and workers). So the global RNGs (Python, numpy, torch CPU and
    CUDA) are swapped: each ``train_step`` runs in the training stream, everything else in the
    ambient one. A fresh run seeds the training stream from one draw of the ambient stream; a
    resumed run (``resume=True``) takes it from the checkpoint's ``rng_states`` (one entry per
    rank). Randomness of the data pipeline is not part of it: mmdret's caption choice is a
    function of (seed, epoch, index) instead (see ``SeededIndex``).

    Works at epoch boundaries and, with an iteration-based loop and ``CheckpointHook(by_epoch=
    False)``, at iteration boundaries.
    """

    priority = 'VERY_HIGH'  # in before the other hooks' train-iter work, out before saving

    def __init__(self):
        self._train_state = None  # the training stream between two train steps
        self._ambient_state = None
        self._saved_states = None  # every rank's training stream, for the next checkpoint
        self._gather_every_iter = False

    def before_train(self, runner):
        self._gather_every_iter = any(isinstance(hook, CheckpointHook) and not hook.by_epoch
                                      for hook in runner.hooks)

    def after_load_checkpoint(self, runner, checkpoint):
        if not runner._resume:  # load_from (e.g. stage 2 from stage 1): a fresh stream
            return
        states = checkpoint.get(CHECKPOINT_KEY)
        if states is None or len(states) != get_world_size():
            problem = ('has no RNG states' if states is None else
                       f'holds the RNG states of {len(states)} processes, not '
                       f'{get_world_size()}')
            print_log(f'The resumed checkpoint {problem}: training randomness will differ '
                      'from an uninterrupted run.', logger='current', level=30)
            return
        self._train_state = states[get_rank()]

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self._train_state is None:  # a fresh run: seeded by one draw of the ambient stream
            seed = int(torch.randint(2**62, ()).item())
            self._ambient_state = get_rng_state()
            seed_rng(seed)
        else:
            self._ambient_state = get_rng_state()
            set_rng_state(self._train_state)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._train_state = get_rng_state()
        set_rng_state(self._ambient_state)
        if self._gather_every_iter:
            self._gather()

    def after_train_epoch(self, runner):
        self._gather()

    def before_save_checkpoint(self, runner, checkpoint):
        if self._saved_states is not None:
            checkpoint[CHECKPOINT_KEY] = self._saved_states

    def _gather(self):
        # Collective (every rank runs it); the checkpoint is written by rank 0 only.
        self._saved_states = (all_gather_object(self._train_state) if get_world_size() > 1
                              else [self._train_state])
