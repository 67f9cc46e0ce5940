"""Run a test body in two forked gloo processes and collect what each rank returns."""
import faulthandler

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _run(rank, body, result_dir, timeout):
    # A forked child must not enter OpenMP regions the parent's earlier tests used (libgomp
    # deadlocks after fork): one intra-op thread; and never hang the suite.
    torch.set_num_threads(1)
    faulthandler.dump_traceback_later(timeout, exit=True)
    dist.init_process_group('gloo', init_method=f'file://{result_dir}/init', rank=rank,
                            world_size=2)
    try:
        torch.save(body(rank), f'{result_dir}/rank{rank}.pt')
    finally:
        dist.destroy_process_group()


def run_two_processes(body, tmp_path, timeout=120):
    """``[body(0), body(1)]``, each run in its own forked process of a 2-process gloo group.

    Fork lets ``body`` be a closure and spares the children re-importing mmaction (~15 s).

    Args:
        body (Callable[[int], Any]): Called with the rank; returns tensors / containers that
            ``torch.load(weights_only=True)`` reads back.
        tmp_path (Path): An empty folder for the rendezvous file and the results.
        timeout (int): Seconds after which a hung child dumps its stack and exits.

    Returns:
        list: The two ranks' return values.
    """
    mp.start_processes(_run, args=(body, str(tmp_path), timeout), nprocs=2, start_method='fork')
    return [torch.load(tmp_path / f'rank{rank}.pt') for rank in range(2)]
