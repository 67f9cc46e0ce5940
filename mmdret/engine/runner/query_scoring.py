"""Scoring a rank's query chunks against all candidates, direction by direction.

For models whose two directions start from one stage-1 similarity (``S_v2t = S_t2v^T``, see
:attr:`~mmdret.models.retrievers.base_retriever.BaseRetriever.shares_similarity`) the
similarity is computed once: while scoring its text-query chunks, each rank keeps the columns
of the similarity rows it computes; the column block of a rank's own videos against all texts
is then assembled by exchanging those blocks (cheaper than recomputing them), and the
video-to-text direction re-scores it without a second similarity pass.
"""
import sys

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.dist.utils import get_comm_device
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from mmdret.evaluation.functional import DIRECTIONS, slice_features

# direction -> (query modality, candidate modality)
MODALITIES = {direction: (query, candidate) for direction, query, candidate in DIRECTIONS}


def positions_in(sorted_index, index):
    """Positions of the global ``index`` values in the sorted unique ``sorted_index``.

    Args:
        sorted_index (Tensor): ``(N,)`` sorted unique global indices (moved to the device of
            ``index``).
        index (Tensor): global indices to look up, each present in ``sorted_index``.

    Returns:
        Tensor: the position of each value of ``index`` in ``sorted_index``, shaped as
        ``index``.
    """
    return torch.searchsorted(sorted_index.to(index.device).contiguous(), index.contiguous())


class QueryChunkScorer:
    """Scores (Q, C) of a rank's queries, ``chunk_size`` at a time, in both directions.

    Every rank owns its local queries and scores them against all (gathered) candidates. With
    ``share_similarity`` and a model that ``shares_similarity``, the ``'t2v'`` direction keeps
    the stage-1 similarity rows it computes, and ``'v2t'`` (which must come after it, as in the
    retrieval loops) takes its stage-1 scores from them, so the similarity is computed once:
    at most ``num_texts x local videos`` stage-1 floats are held per rank (plus the blocks sent
    to the other ranks), and the scores equal :meth:`BaseRetriever.score` exactly.

    Args:
        model (BaseRetriever): the unwrapped retriever, in eval mode.
        local (dict): this rank's ``dict(text=..., video=...)`` features, unique items.
        gathered (dict): all ranks' features, ordered by global ``index`` (unique).
        chunk_size (int): queries scored at once.
        share_similarity (bool): compute the stage-1 similarity once for both directions when
            the model allows it. Defaults to True.
        show_progress (bool): a progress bar of the chunks scored (rank 0). Defaults to True.
    """

    def __init__(self, model, local, gathered, chunk_size, share_similarity=True,
                 show_progress=True):
        self.model, self.local, self.gathered = model, local, gathered
        self.chunk_size = chunk_size
        self.share = bool(share_similarity and getattr(model, 'shares_similarity', False))
        self.show_progress = show_progress
        self.columns = None  # (all texts, local videos) stage-1 similarity, filled by t2v
        self.t2v_done = False
        if self.share:
            self._plan_exchange()

    def _plan_exchange(self):
        """Where each rank's texts and videos sit in the gathered order."""
        texts, videos = self.local['text']['index'].cpu(), self.local['video']['index'].cpu()
        parts = all_gather_object((texts, videos)) if get_world_size() > 1 else [(texts,
                                                                                  videos)]
        text_index = self.gathered['text']['index'].cpu()
        video_index = self.gathered['video']['index'].cpu()
        self.text_rows = [positions_in(text_index, part[0]) for part in parts]
        self.video_columns = [positions_in(video_index, part[1]) for part in parts]
        self.outgoing = {}

    def chunks(self, direction):
        """Yield ``(query chunk features, (Q, C) scores)`` for this rank's queries.

        Args:
            direction (str): ``'t2v'`` or ``'v2t'``.
        """
        query_modality, candidate_modality = MODALITIES[direction]
        queries, candidates = self.local[query_modality], self.gathered[candidate_modality]
        total = queries['index'].numel()
        num_chunks = -(-total // self.chunk_size)
        progress = None
        if self.show_progress and total and get_rank() == 0:
            print_log(f'scoring {direction}: {num_chunks} chunks of up to {self.chunk_size} '
                      f'queries (of {total} on rank 0) against '
                      f'{candidates["index"].numel()} candidates', logger='current')
            progress = ProgressBar(num_chunks, file=sys.stdout)
        shared = self.share and (direction == 't2v' or self.t2v_done)
        if shared and direction == 'v2t':
            self._exchange()
        for start in range(0, total, self.chunk_size):
            part = slice(start, start + self.chunk_size)
            chunk = slice_features(queries, part)
            with torch.no_grad():
                if not shared:
                    scores = self.model.score(direction, chunk, candidates)
                elif direction == 't2v':
                    stage1 = self.model.shared_similarity(chunk, candidates)
                    self._keep(part, stage1)
                    scores = self.model.rescore(direction, stage1, chunk, candidates)
                else:
                    stage1 = self.columns[:, part].t().contiguous()
                    scores = self.model.rescore(direction, stage1, chunk, candidates)
            if progress is not None:
                progress.update()
            yield chunk, scores
        if progress is not None:
            progress.file.write('\n')
        self.t2v_done = shared and direction == 't2v'
        if shared and direction == 'v2t':
            self.columns, self.outgoing = None, {}

    def _allocate(self, device, dtype):
        """The column block of this rank's videos and the blocks it sends."""
        rank = get_rank()
        num_texts = self.gathered['text']['index'].numel()
        num_local = self.local['text']['index'].numel()
        self.columns = torch.empty(num_texts, self.video_columns[rank].numel(), device=device,
                                   dtype=dtype)
        self.outgoing = {dst: torch.empty(num_local, columns.numel(), device=device, dtype=dtype)
                         for dst, columns in enumerate(self.video_columns) if dst != rank}

    def _keep(self, part, stage1):
        """Store the columns of every rank's videos of the (Q, all videos) ``stage1`` rows of
        this rank's texts ``part``."""
        rank = get_rank()
        if self.columns is None:
            self._allocate(stage1.device, stage1.dtype)
        rows = self.text_rows[rank][part]
        self.columns[rows.to(stage1.device)] = stage1[:, self.video_columns[rank].to(
            stage1.device)]
        for dst, block in self.outgoing.items():
            block[part] = stage1[:, self.video_columns[dst].to(stage1.device)]

    def _exchange(self):
        """Complete each rank's column block with the rows the other ranks computed (one
        ``gather`` per destination rank; blocks padded to the largest text shard)."""
        world_size, rank = get_world_size(), get_rank()
        if self.columns is None:  # no local texts: every row comes from the other ranks
            self._allocate(torch.device('cpu'), torch.float32)
        if world_size == 1:
            return
        device = get_comm_device()
        most = max(rows.numel() for rows in self.text_rows)
        for dst in range(world_size):
            width = self.video_columns[dst].numel()
            send = torch.zeros(most, width, dtype=self.columns.dtype, device=device)
            if dst != rank:
                block = self.outgoing[dst]
                send[:block.shape[0]] = block.to(device)
            received = ([torch.empty_like(send) for _ in range(world_size)]
                        if dst == rank else None)
            torch_dist.gather(send, received, dst=dst)
            if dst == rank:
                for src, block in enumerate(received):
                    if src != rank:
                        rows = self.text_rows[src]
                        self.columns[rows.to(self.columns.device)] = block[:rows.numel()].to(
                            self.columns.device)
        self.outgoing = {}
