"""Worker of ``test_distributed.py``, run as
``python -m torch.distributed.run --nproc_per_node=2 dist_worker.py TASKS.json``.

Starting a process costs ~6 s of imports on the 2-core test machine, so one launch runs
several checks in the same processes, each task writing its own output (or, if it raised,
``<out>.error`` with the traceback) so that each test reports only its own failure:

* ``{"kind": "contrastive_loss", "config": CFG, "out": PATH}``: every rank builds the same
  tiny stage-1 model (seeded), takes its 1/N of one deterministic random batch, computes the
  stage-1 contrastive loss (features gathered across ranks with ``gather_with_grad``) and
  back-propagates it; rank 0 saves every rank's loss, its own parameter gradients and their sum
  over ranks (``torch.save``).
* ``{"kind": "test_tool", "argv": [...], "out": PATH}``: ``tools/test.py`` run as ``__main__``
  with ``sys.argv`` set to the command line (``runpy``), i.e. exactly what the launcher's
  ``python tools/test.py ARGV`` runs, minus the process start (the argv should hold
  ``--launcher pytorch`` and ``--out-metrics PATH``).

Imported by the test for the 1-process reference of the contrastive loss.
"""
import datetime
import json
import runpy
import sys
import traceback
from pathlib import Path

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
BATCH, LENGTH, FRAMES, SIZE = 8, 12, 4, 32
SOT, EOT = 49406, 49407


def make_inputs(seed=0):
    """A batch as ``RetrievalDataPreprocessor`` outputs it: token ids with SOT/EOT and padding,
    normalised frames with zero padding, and their masks."""
    generator = torch.Generator().manual_seed(seed)
    text = torch.zeros(BATCH, LENGTH, dtype=torch.long)
    lengths = torch.randint(3, LENGTH + 1, (BATCH,), generator=generator)
    for i, length in enumerate(lengths.tolist()):
        text[i, 0], text[i, length - 1] = SOT, EOT
        text[i, 1:length - 1] = torch.randint(1, SOT, (length - 2,), generator=generator)
    video = torch.randn(BATCH, FRAMES, 3, SIZE, SIZE, generator=generator)
    valid = torch.randint(1, FRAMES + 1, (BATCH,), generator=generator)
    video_mask = (torch.arange(FRAMES)[None] < valid[:, None]).long()
    video = video * video_mask[:, :, None, None, None]
    return dict(text=text, text_mask=(text > 0).long(), video=video, video_mask=video_mask)


def build_model(config):
    from mmdret.registry import MODELS
    from mmdret.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(config).model).train()


def loss_and_grads(model, inputs):
    model.zero_grad()
    loss = model.loss(inputs, data_samples=None)['loss_contrastive']
    loss.backward()
    grads = {name: param.grad.detach().clone() for name, param in model.named_parameters()
             if param.grad is not None}
    return loss.detach(), grads


def contrastive_loss(config, out):
    rank, world_size = torch_dist.get_rank(), torch_dist.get_world_size()
    model = build_model(config)
    per_rank = BATCH // world_size
    local = {key: value[rank * per_rank:(rank + 1) * per_rank]
             for key, value in make_inputs().items()}
    loss, grads = loss_and_grads(model, local)
    losses = [torch.zeros_like(loss) for _ in range(world_size)]
    torch_dist.all_gather(losses, loss)
    summed = {name: grad.clone() for name, grad in grads.items()}
    for grad in summed.values():
        torch_dist.all_reduce(grad)  # the sum of the ranks' gradients
    if rank == 0:
        torch.save(dict(world_size=world_size, losses=torch.stack(losses), grads_rank0=grads,
                        grads_sum=summed), out)


def run_test_tool(argv, out):
    """``python tools/test.py ARGV``: the script run as ``__main__`` with that command line."""
    saved = sys.argv
    sys.argv = [str(ROOT / 'tools' / 'test.py'), *map(str, argv)]
    try:
        runpy.run_path(sys.argv[0], run_name='__main__')
    finally:
        sys.argv = saved


def main(tasks_file):
    # A rank that fails inside a collective must not leave the other waiting for 30 minutes.
    torch_dist.init_process_group('gloo', timeout=datetime.timedelta(seconds=90))
    for task in json.loads(Path(tasks_file).read_text()):
        try:
            if task['kind'] == 'contrastive_loss':
                contrastive_loss(task['config'], task['out'])
            else:
                run_test_tool(task["argv"], task["out"])
        except Exception:  # noqa: BLE001  (reported to the test through the file)
            error = Path(f'{task["out"]}.error')
            error.write_text(f'rank {torch_dist.get_rank()}:\n{traceback.format_exc()}')
        torch_dist.barrier()
    torch_dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
