"""DiffusionReranker (training loss, DDIM sampling, re-ranking) against straightforward per-query references."""
import math

import pytest
import torch

import mmdret.models  # noqa: F401  (registers the losses, schedulers and denoisers)
from mmdret.models.heads import DiffusionReranker
from mmdret.models.heads import diffusion_reranker as reranker_module
from mmdret.models.heads.diffusion_reranker import mine_candidates

NUM_QUERIES, NUM_CANDIDATES, TOPK, STEPS, WIDTH, FRAMES = 5, 9, 4, 5, 32, 3
DIRECTIONS = ('t2v', 'v2t')


def build_reranker(**kwargs):
    torch.manual_seed(0)
    cfg = dict(t2v_denoiser=dict(type='TextToVideoDenoiser', width=WIDTH),
               v2t_denoiser=dict(type='VideoToTextDenoiser', width=WIDTH),
               scheduler=dict(type='DDIMScheduler', num_train_timesteps=10),
               num_inference_steps=STEPS, topk=TOPK)
    cfg.update(kwargs)
    reranker = DiffusionReranker(**cfg)
    reranker.init_weights()
    return reranker.eval()


def text_features(num, gen, first_index=0):
    return {'eot': torch.randn(num, WIDTH, generator=gen),
            'index': torch.arange(first_index, first_index + num)}


def video_features(num, gen, first_index=0):
    mask = torch.ones(num, FRAMES, dtype=torch.long)
    mask[1::2, -1] = 0  # every other video has a padded last frame
    return {'frames': torch.randn(num, FRAMES, WIDTH, generator=gen), 'frame_mask': mask,
            'index': torch.arange(first_index, first_index + num)}


def make_problem(direction, seed=0):
    """(scores (Q, C), queries, candidates) of one direction."""
    gen = torch.Generator().manual_seed(seed)
    if direction == 't2v':
        queries, candidates = text_features(NUM_QUERIES, gen), video_features(NUM_CANDIDATES, gen)
    else:
        queries, candidates = video_features(NUM_QUERIES, gen), text_features(NUM_CANDIDATES, gen)
    return torch.randn(NUM_QUERIES, NUM_CANDIDATES, generator=gen), queries, candidates


def take(features, part):
    return {key: value[part] for key, value in features.items()}


def reference_rerank(reranker, direction, scores, queries, candidates):
    """One query at a time: top-k, plain denoiser forward + scheduler step, softmax boost."""
    sampler = reranker.sampler
    out = scores.clone()
    for q in range(scores.shape[0]):
        top = scores[q].topk(min(reranker.topk, scores.shape[1])).indices
        x = reranker.sampling_noise(direction, queries['index'][q:q + 1], len(top), 'cpu')
        for t in sampler.timesteps:
            timesteps = torch.tensor([int(t)])
            if direction == 't2v':
                pred = reranker.t2v_denoiser(x, timesteps, queries['eot'][q:q + 1],
                                             candidates['frames'][top][None],
                                             candidates['frame_mask'][top][None])
            else:
                pred = reranker.v2t_denoiser(x, timesteps, candidates['eot'][top][None],
                                             queries['frames'][q:q + 1],
                                             queries['frame_mask'][q:q + 1])
            x = sampler.step(pred, t, x).prev_sample
        boost = reranker.alpha[direction] * (reranker.temp[direction] * x[0]).softmax(dim=0)
        out[q, top] += boost
    return out


def build_spread_reranker():
    """Non-default alpha and temp, and larger weights than the N(0, 0.02) init: x̂0 spreads
    over [-1, 1], a few entries clamped."""
    reranker = build_reranker(alpha=dict(t2v=0.5, v2t=2.0), temp=dict(t2v=3.0, v2t=0.5))
    with torch.no_grad():
        for param in reranker.parameters():
            param.mul_(8)
    return reranker


@pytest.mark.parametrize('precompute', [True, False])
@pytest.mark.parametrize('direction', DIRECTIONS)
def test_rerank_matches_per_query_reference(direction, precompute):
    reranker = build_spread_reranker()
    scores, queries, candidates = make_problem(direction)
    with torch.no_grad():
        reranked = reranker.rerank(direction, scores, queries, candidates, precompute=precompute)
        expected = reference_rerank(reranker, direction, scores, queries, candidates)
    torch.testing.assert_close(reranked, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(reranked, scores)


@pytest.mark.parametrize('direction', DIRECTIONS)
def test_trajectory_observer_sees_each_steps_distribution_and_changes_no_score(direction):
    reranker = build_spread_reranker()
    scores, queries, candidates = make_problem(direction)
    calls = []
    with torch.no_grad():
        default = reranker.rerank(direction, scores, queries, candidates)
        reranker.trajectory_observer = lambda *args: calls.append(args)
        observed = reranker.rerank(direction, scores, queries, candidates)
        with_trajectory, top, trajectory = reranker.rerank(direction, scores, queries, candidates,
                                                           return_trajectory=True)
    # Watching the sampling changes no score, bit for bit.
    assert torch.equal(observed, default) and torch.equal(with_trajectory, default)
    assert len(calls) == 2
    seen_direction, seen_queries, seen_candidates, seen_top, distributions = calls[0]
    assert seen_direction == direction and seen_queries is queries
    assert seen_candidates is candidates and torch.equal(seen_top, top)
    # One distribution over the K shortlisted candidates per query and step: softmax(temp x̂0).
    assert distributions.shape == (NUM_QUERIES, STEPS, TOPK) and (distributions > 0).all()
    torch.testing.assert_close(distributions.sum(dim=2), torch.ones(NUM_QUERIES, STEPS))
    torch.testing.assert_close(distributions, torch.stack(
        [(reranker.temp[direction] * x0).softmax(dim=1) for x0 in trajectory], dim=1))
    assert not torch.allclose(distributions[:, 0], distributions[:, -1])
    # The last step's distribution is the one that re-ranked: alpha times it is each query's
    # boost, so it orders the shortlist as the boosts of the final scores do.
    boost = (default - scores).gather(1, top)
    torch.testing.assert_close(reranker.alpha[direction] * distributions[:, -1], boost)
    assert torch.equal(distributions[:, -1].argsort(dim=1), boost.argsort(dim=1))


@pytest.mark.parametrize('direction', DIRECTIONS)
def test_same_seed_gives_identical_scores(direction):
    scores, queries, candidates = make_problem(direction)
    with torch.no_grad():
        first = build_reranker().rerank(direction, scores, queries, candidates)
        second = build_reranker().rerank(direction, scores, queries, candidates)
        other_seed = build_reranker(seed=1).rerank(direction, scores, queries, candidates)
    assert torch.equal(first, second)
    assert not torch.equal(first, other_seed)


@pytest.mark.parametrize('direction', DIRECTIONS)
def test_chunking_queries_gives_same_scores(direction):
    reranker = build_reranker()
    scores, queries, candidates = make_problem(direction)
    with torch.no_grad():
        whole = reranker.rerank(direction, scores, queries, candidates)
        # The noise depends only on (seed, direction, global query index), not on the chunk.
        halves = [reranker.rerank(direction, scores[part], take(queries, part), candidates)
                  for part in (slice(0, 2), slice(2, None))]
    torch.testing.assert_close(torch.cat(halves), whole)


@pytest.mark.parametrize('direction', DIRECTIONS)
def test_only_top_candidates_change_and_only_upwards(direction):
    reranker = build_reranker()
    scores, queries, candidates = make_problem(direction)
    with torch.no_grad():
        reranked, top, _ = reranker.rerank(direction, scores, queries, candidates,
                                           return_trajectory=True)
    assert torch.equal(top, scores.topk(TOPK, dim=1).indices)
    shortlisted = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, top, True)
    assert torch.equal(reranked[~shortlisted], scores[~shortlisted])
    assert (reranked[shortlisted] > scores[shortlisted]).all()
    # Boosts are a softmax scaled by alpha = 1: they sum to 1 per query.
    torch.testing.assert_close((reranked - scores).sum(dim=1), torch.ones(NUM_QUERIES))


def test_topk_larger_than_candidates_is_clamped_with_one_warning(monkeypatch):
    warnings = []
    monkeypatch.setattr(reranker_module, 'print_log',
                        lambda msg, **kwargs: warnings.append((msg, kwargs.get('level'))))
    reranker = build_reranker(topk=NUM_CANDIDATES + 3)
    with torch.no_grad():
        for direction in DIRECTIONS:
            scores, queries, candidates = make_problem(direction)
            reranked, top, _ = reranker.rerank(direction, scores, queries, candidates,
                                               return_trajectory=True)
            assert top.shape == (NUM_QUERIES, NUM_CANDIDATES)
            assert (reranked > scores).all()
    assert len(warnings) == 1 and warnings[0][1] == 30


def test_mine_candidates_hand_built_example():
    # Batch items 0 and 3 are two captions of the same video 10.
    videos = torch.tensor([10, 11, 12, 10, 13])
    similarity = torch.tensor([
        [0.9, 0.1, 0.5, 0.8, 0.3],
        [0.2, 0.7, 0.6, 0.4, 0.9],
        [0.3, 0.1, 0.8, 0.2, 0.5],
        [0.8, 0.6, 0.1, 0.9, 0.7],
        [0.5, 0.4, 0.3, 0.6, 0.2],
    ])
    expected = torch.tensor([
        [0, 2, 4, 1],  # video 10: positive column 0, column 3 (same video) never a negative
        [1, 4, 2, 3],  # clamped to 3 negatives (video 10's queries have only 3)
        [2, 4, 0, 3],
        [0, 4, 1, 2],  # the positive is the first column showing video 10
        [4, 3, 0, 1],
    ])
    indices = mine_candidates(similarity, videos, videos, num_negatives=10)
    assert torch.equal(indices, expected)
    # Fewer negatives requested: the hardest ones, still sorted.
    assert torch.equal(mine_candidates(similarity, videos, videos, num_negatives=2),
                       expected[:, :3])


def test_loss_terms_finite_and_gradients_reach_only_the_denoisers():
    reranker = build_reranker(num_negatives=3).train()
    gen = torch.Generator().manual_seed(3)
    batch = 6
    videos = torch.tensor([0, 1, 2, 0, 3, 4])  # items 0 and 3 share a video
    text = {'eot': torch.randn(batch, WIDTH, generator=gen), 'video_index': videos}
    video = video_features(batch, gen)
    video['index'] = videos
    similarity = torch.randn(batch, batch, generator=gen)
    torch.manual_seed(0)
    losses = reranker.loss_terms(similarity, text, video, slice(0, batch))
    assert set(losses) == {'loss_generation_t2v', 'loss_generation_v2t'}
    assert all(math.isfinite(loss.item()) for loss in losses.values())
    sum(losses.values()).backward()
    denoiser_params = {id(p) for denoiser in (reranker.t2v_denoiser, reranker.v2t_denoiser)
                       for p in denoiser.parameters()}
    for name, param in reranker.named_parameters():
        if id(param) in denoiser_params:
            assert param.grad is not None, name
        else:
            assert param.grad is None, name
    for features in (text, video):
        for value in features.values():
            assert not value.requires_grad and value.grad is None
    assert similarity.grad is None


@pytest.mark.parametrize('direction', DIRECTIONS)
def test_cached_denoiser_fn_falls_back_to_forward_for_mixed_timesteps(direction):
    reranker = build_reranker()
    scores, queries, candidates = make_problem(direction)
    top = scores.topk(TOPK, dim=1).indices
    keys = ('frames', 'frame_mask') if direction == 't2v' else ('eot', )
    shortlist = reranker.select(candidates, top, keys)
    cached_fn = reranker._cached_denoiser_fn(direction, queries, shortlist)
    x = torch.randn(NUM_QUERIES, TOPK)
    with torch.no_grad():
        for timesteps in (torch.full((NUM_QUERIES, ), 4), torch.tensor([0, 9, 4, 4, 2])):
            torch.testing.assert_close(
                cached_fn(x, timesteps),
                reranker.denoise(direction, x, timesteps, queries, shortlist))
