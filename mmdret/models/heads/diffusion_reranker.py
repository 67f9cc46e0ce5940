import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule

from mmdret.models.diffusion import denoise_loop
from mmdret.registry import MODELS, TASK_UTILS
from mmdret.utils.scope import in_mmdret_scope

DIRECTIONS = ('t2v', 'v2t')
NOISE_BLOCK = 1024


def gather_rows(features, indices):
    """``features[indices]`` for a (C, ...) tensor and (Q, K) indices -> (Q, K, ...).

    Args:
        features (Tensor): ``(C, ...)`` candidate features.
        indices (Tensor): ``(Q, K)`` long row indices into ``features``.

    Returns:
        Tensor: ``(Q, K, ...)`` the rows of ``features``.
    """
    return features[indices.reshape(-1)].reshape(*indices.shape, *features.shape[1:])


def mine_candidates(similarity, query_videos, candidate_videos, num_negatives):
    """Positive first, then the hardest negatives by detached stage-1 similarity.

    Candidates showing the query's own video (the positive and other captions of it) are never
    negatives; the official code marks them with -1 and lets ``topk`` pick one of them again.

    Args:
        similarity (Tensor): (Q, C) similarity; the positive of query q is column
            ``positives[q]``.
        query_videos (Tensor): (Q,) video id of each query's ground truth.
        candidate_videos (Tensor): (C,) video id of each candidate.
        num_negatives (int): negatives per query; clamped to the fewest available.

    Returns:
        Tensor: (Q, 1 + n) candidate indices, the positive at index 0.
    """
    same = query_videos[:, None] == candidate_videos[None, :]
    positives = (same.float().cumsum(dim=1) == 1) & same
    positive_index = positives.float().argmax(dim=1)
    available = int((~same).sum(dim=1).min())
    num_negatives = min(num_negatives, available)
    scores = similarity.softmax(dim=1).masked_fill(same, float('-inf'))
    negatives = scores.topk(num_negatives, dim=1).indices
    return torch.cat([positive_index[:, None], negatives], dim=1)


@MODELS.register_module()
class DiffusionReranker(BaseModule):
    """DiffusionRet stage 2: generate p(candidates | query) from noise and re-rank with it.

    Training (per direction): mine the positive plus the hardest negatives from the detached
    stage-1 similarity, take the one-hot x0 (positive first, as in the official code), draw one
    timestep shared by both directions and a fresh noise per direction, and train the denoiser to
    predict x0 (generation loss). Inference: each query's top-``topk`` candidates by stage-1
    similarity are re-scored as ``sim + alpha * softmax(temp * x̂0)``, x̂0 from a DDIM run over
    all queries of a chunk at once.

    Args:
        t2v_denoiser (dict): text->video denoiser, ``TextToVideoDenoiser``.
        v2t_denoiser (dict): video->text denoiser, ``VideoToTextDenoiser``.
        scheduler (dict): training noise scheduler (``add_noise``), e.g.
            ``dict(type='DDIMScheduler', num_train_timesteps=50, beta_schedule='cosine')``.
        sampler (dict, optional): sampling scheduler; defaults to ``scheduler``.
        loss (dict): generation loss, ``GenerationCELoss`` (official "KL") or
            ``GenerationMSELoss``.
        num_negatives (int): hardest negatives per training query (official ``--num`` 127).
        negative_value (float): x0 value of negatives (official ``--neg``: 0).
        num_inference_steps (int): sampling steps (official 50, respaced if fewer than training).
        topk (int): candidates re-ranked per query (official ``t2v_num``/``v2t_num`` 32).
            Clamped to the number of candidates (logged once).
        alpha (dict): re-ranking weight per direction (official 1, 1).
        temp (dict): softmax temperature per direction (official 1, 1).
        seed (int): seed of the sampling noise, so evaluation is reproducible and independent
            of how queries are chunked or sharded. None uses the global RNG (official).
            Defaults to 0.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Attributes:
        trajectory_observer (callable, optional): set at run time (e.g. by
            ``RetrievalVisualizationHook``) to watch the sampling: every :meth:`rerank` call then
            also calls ``trajectory_observer(direction, queries, candidates, top,
            distributions)`` with ``top`` the (Q, K) shortlisted candidate indices and
            ``distributions`` (Q, steps, K) the candidate distribution of every sampling step
            (:meth:`candidate_distribution` of that step's x̂0). Scores are unchanged.
            Defaults to None.
    """

    @in_mmdret_scope
    def __init__(self,
                 t2v_denoiser=dict(type='TextToVideoDenoiser'),
                 v2t_denoiser=dict(type='VideoToTextDenoiser'),
                 scheduler=dict(type='DDIMScheduler', num_train_timesteps=50,
                                beta_schedule='cosine'),
                 sampler=None,
                 loss=dict(type='GenerationCELoss', d_temp=100.0),
                 num_negatives=127,
                 negative_value=0.0,
                 num_inference_steps=50,
                 topk=32,
                 alpha=dict(t2v=1.0, v2t=1.0),
                 temp=dict(t2v=1.0, v2t=1.0),
                 seed=0,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.t2v_denoiser = MODELS.build(t2v_denoiser)
        self.v2t_denoiser = MODELS.build(v2t_denoiser)
        self.scheduler = TASK_UTILS.build(scheduler)
        self.sampler = TASK_UTILS.build(sampler or scheduler)
        self.sampler.set_timesteps(num_inference_steps)
        self.loss = MODELS.build(loss)
        self.num_negatives = num_negatives
        self.negative_value = negative_value
        self.topk = topk
        self.alpha = dict(alpha)
        self.temp = dict(temp)
        self.seed = seed
        self.trajectory_observer = None
        self._clamp_logged = False

    # -- denoiser calls ----------------------------------------------------------------------
    def denoise(self, direction, x, timesteps, query, candidates):
        """Predicted x̂0 (B, N) for the noisy distribution x over the candidates' features.

        Args:
            direction (str): ``'t2v'`` (text queries, video candidates) or ``'v2t'``.
            x (Tensor): ``(B, N)`` noisy distribution over each query's N candidates.
            timesteps (Tensor): ``(B,)`` training step of each row of ``x``.
            query (dict[str, Tensor]): the queries' features: ``eot`` ``(B, D)`` for texts,
                ``frames`` ``(B, T, D)`` and ``frame_mask`` ``(B, T)`` for videos.
            candidates (dict[str, Tensor]): each query's candidate features, likewise with an
                ``N`` axis after the batch: ``frames`` ``(B, N, T, D)`` and ``frame_mask``
                ``(B, N, T)`` for videos, ``eot`` ``(B, N, D)`` for texts.

        Returns:
            Tensor: ``(B, N)`` predicted x̂0.
        """
        if direction == 't2v':
            return self.t2v_denoiser(x, timesteps, query['eot'], candidates['frames'],
                                     candidates['frame_mask'])
        return self.v2t_denoiser(x, timesteps, candidates['eot'], query['frames'],
                                 query['frame_mask'])

    @staticmethod
    def select(features, indices, keys):
        return {key: gather_rows(features[key], indices) for key in keys}

    # -- training ----------------------------------------------------------------------------
    def loss_terms(self, similarity, text, video, query_slice):
        """Generation losses of both directions.

        Args:
            similarity (Tensor): (Nt, Nv) detached stage-1 similarity of the (gathered) batch.
            text (dict): gathered text features (``eot``, ``video_index``).
            video (dict): gathered video features (``frames``, ``frame_mask``, ``index``).
            query_slice (slice): this rank's queries within the gathered batch.
        """
        batch = similarity[query_slice].shape[0]
        timesteps = torch.randint(0, len(self.scheduler), (batch,), device=similarity.device)
        losses = {}
        for direction in DIRECTIONS:
            if direction == 't2v':
                rows = similarity[query_slice]
                query_ids, candidate_ids = text['video_index'][query_slice], video['index']
                query = {'eot': text['eot'][query_slice]}
                pool, keys = video, ('frames', 'frame_mask')
            else:
                rows = similarity.t()[query_slice]
                query_ids, candidate_ids = video['index'][query_slice], text['video_index']
                query = {k: video[k][query_slice] for k in ('frames', 'frame_mask')}
                pool, keys = text, ('eot',)
            indices = mine_candidates(rows, query_ids, candidate_ids, self.num_negatives)
            x0 = torch.full(indices.shape, self.negative_value, device=rows.device)
            x0[:, 0] = 1.0
            noisy = self.scheduler.add_noise(x0, torch.randn_like(x0), timesteps)
            pred = self.denoise(direction, noisy, timesteps, query,
                                self.select(pool, indices, keys))
            losses[f'loss_generation_{direction}'] = self.loss(pred, x0)
        return losses

    # -- inference ---------------------------------------------------------------------------
    def effective_topk(self, num_candidates):
        if self.topk > num_candidates and not self._clamp_logged:
            print_log(f'topk={self.topk} exceeds the {num_candidates} candidates; re-ranking '
                      f'all {num_candidates}', logger='current', level=30)
            self._clamp_logged = True
        return min(self.topk, num_candidates)

    def sampling_noise(self, direction, query_index, num_candidates, device):
        """Initial noise of each query, a function of (seed, direction, global query index) only,
        so scores do not depend on chunking or on the number of processes.

        Noise comes in blocks of ``NOISE_BLOCK`` queries, each block from its own generator.

        Args:
            direction (str): ``'t2v'`` or ``'v2t'``.
            query_index (Tensor): ``(Q,)`` global index of each query.
            num_candidates (int): K, the candidates re-ranked per query.
            device (torch.device | str): device of the returned noise.

        Returns:
            Tensor: ``(Q, K)`` standard normal noise (drawn from the global RNG when ``seed`` is
            None).
        """
        if self.seed is None:
            return torch.randn(query_index.numel(), num_candidates, device=device)
        noise = torch.empty(query_index.numel(), num_candidates)
        blocks = torch.div(query_index, NOISE_BLOCK, rounding_mode='floor').cpu()
        for block in blocks.unique().tolist():
            seed = (self.seed * len(DIRECTIONS) + DIRECTIONS.index(direction)) * 1_000_003 + block
            table = torch.randn(NOISE_BLOCK, num_candidates,
                                generator=torch.Generator().manual_seed(seed))
            rows = blocks == block
            noise[rows] = table[query_index.cpu()[rows] % NOISE_BLOCK]
        return noise.to(device)

    def rerank(self, direction, scores, queries, candidates, return_trajectory=False,
               precompute=True):
        """Re-score each query's top-k candidates: ``sim + alpha * softmax(temp * x̂0)``.

        Args:
            direction (str): ``'t2v'`` or ``'v2t'``.
            scores (Tensor): (Q, C) stage-1 similarity of the queries to all candidates.
            queries (dict): query features (with ``index``).
            candidates (dict): all candidate features.
            return_trajectory (bool): also return the top-k indices and the per-step x̂0.
            precompute (bool): do the step-invariant denoiser work once per call
                (``precompute`` / ``denoise_cached``) instead of at every sampling step; same
                result up to float rounding. False runs the plain ``forward`` per step.
        """
        k = self.effective_topk(scores.shape[1])
        top = scores.topk(k, dim=1).indices
        keys = ('frames', 'frame_mask') if direction == 't2v' else ('eot',)
        shortlist = self.select(candidates, top, keys)
        noise = self.sampling_noise(direction, queries['index'], k, scores.device)
        make_denoiser_fn = self._cached_denoiser_fn if precompute else self._plain_denoiser_fn
        observer = self.trajectory_observer
        result = denoise_loop(self.sampler, make_denoiser_fn(direction, queries, shortlist), noise,
                              return_trajectory=return_trajectory or observer is not None)
        x0, trajectory = result if isinstance(result, tuple) else (result, None)
        boost = self.alpha[direction] * self.candidate_distribution(direction, x0)
        reranked = scores.scatter_add(1, top, boost.to(scores.dtype))
        if observer is not None:
            observer(direction, queries, candidates, top, torch.stack(
                [self.candidate_distribution(direction, step) for step in trajectory], dim=1))
        return (reranked, top, trajectory) if return_trajectory else reranked

    def candidate_distribution(self, direction, x0):
        """The generated distribution over each query's K candidates, ``softmax(temp * x0)``
        (Q, K): ``alpha`` times it is the re-ranking boost of the final x0.

        Args:
            direction (str): ``'t2v'`` or ``'v2t'``, selecting the temperature.
            x0 (Tensor): ``(Q, K)`` predicted x̂0 over each query's candidates.

        Returns:
            Tensor: ``(Q, K)`` the distribution, each row summing to 1.
        """
        return (self.temp[direction] * x0).softmax(dim=1)

    def _plain_denoiser_fn(self, direction, query, candidates):
        """``denoiser_fn(x, timesteps)`` for :func:`denoise_loop`: the plain forward per step."""
        return lambda x, timesteps: self.denoise(direction, x, timesteps, query, candidates)

    def _denoiser_and_features(self, direction, query, candidates):
        """The direction's denoiser and its feature inputs (those after ``x, timesteps``)."""
        if direction == 't2v':
            return self.t2v_denoiser, (query['eot'], candidates['frames'],
                                       candidates['frame_mask'])
        return self.v2t_denoiser, (candidates['eot'], query['frames'], query['frame_mask'])

    def _cached_denoiser_fn(self, direction, query, candidates):
        """``denoiser_fn(x, timesteps)`` for :func:`denoise_loop` that does the step-invariant
        work once; steps whose timesteps differ across queries fall back to ``forward``."""
        denoiser, features = self._denoiser_and_features(direction, query, candidates)
        cache = denoiser.precompute(*features, timesteps=self.sampler.timesteps)

        def denoiser_fn(x, timesteps):
            if timesteps.numel() and bool((timesteps == timesteps[0]).all()):
                return denoiser.denoise_cached(x, int(timesteps[0]), cache)
            return denoiser(x, timesteps, *features)

        return denoiser_fn
