import math

import pytest
import torch
import torch.nn.functional as F

from mmdret.models.heads import TextToVideoDenoiser, VideoToTextDenoiser
from mmdret.registry import MODELS

OFFICIAL_WIDTH = 512
OFFICIAL_PARAM_COUNT = 2_625_025
# The official checkpoint layout: the ``diffusion_model.`` / ``diffusion_model_v.`` entries, prefix removed, in order.
OFFICIAL_STATE_DICT = [
    ('q_proj.weight', (512, 512)),
    ('k_proj.weight', (512, 512)),
    ('v_proj.weight', (512, 512)),
    ('proj.weight', (512, 512)),
    ('proj.bias', (512, )),
    ('sequence_pos_encoder.pe', (5000, 1, 512)),
    ('embed_timestep.sequence_pos_encoder.pe', (5000, 1, 512)),
    ('embed_timestep.time_embed.0.weight', (512, 512)),
    ('embed_timestep.time_embed.0.bias', (512, )),
    ('embed_timestep.time_embed.2.weight', (512, 512)),
    ('embed_timestep.time_embed.2.bias', (512, )),
    ('decoder.0.weight', (1024, 1024)),
    ('decoder.0.bias', (1024, )),
    ('decoder.2.weight', (1, 1024)),
    ('decoder.2.bias', (1, )),
]

# Small sizes keep the behavioural tests fast.
WIDTH, MAX_STEPS = 16, 50
BATCH, NUM_CANDIDATES, NUM_FRAMES = 3, 5, 4
DENOISERS = [TextToVideoDenoiser, VideoToTextDenoiser]


def build(cls, **kwargs):
    torch.manual_seed(0)
    kwargs = dict(width=WIDTH, max_timesteps=MAX_STEPS, **kwargs)
    return cls(**kwargs).double()


def make_inputs(cls, seed=1):
    """Inputs in forward order; the last frame of candidate/query 1 and 2 is padding."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.double)

    x = randn(BATCH, NUM_CANDIDATES)
    timesteps = torch.tensor([0, MAX_STEPS // 2, MAX_STEPS - 1])
    if cls is TextToVideoDenoiser:
        mask = torch.ones(BATCH, NUM_CANDIDATES, NUM_FRAMES)
        mask[:, 1:3, -1] = 0
        return (x, timesteps, randn(BATCH, WIDTH), randn(BATCH, NUM_CANDIDATES, NUM_FRAMES, WIDTH),
                mask.double())
    mask = torch.ones(BATCH, NUM_FRAMES)
    mask[1:3, -1] = 0
    return (x, timesteps, randn(BATCH, NUM_CANDIDATES, WIDTH), randn(BATCH, NUM_FRAMES, WIDTH),
            mask.double())


@pytest.mark.parametrize('cls', DENOISERS)
def test_parameter_count_matches_official(cls):
    model = cls()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == OFFICIAL_PARAM_COUNT


@pytest.mark.parametrize('cls', DENOISERS)
def test_state_dict_matches_official_keys_and_shapes(cls):
    state = cls().state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == OFFICIAL_STATE_DICT
    # An official checkpoint's entries load 1:1 once the prefix is stripped.
    official = {'diffusion_model.' + k: torch.randn_like(v) for k, v in state.items()}
    model = cls()
    model.load_state_dict({k[len('diffusion_model.'):]: v for k, v in official.items()})
    assert torch.equal(model.q_proj.weight, official['diffusion_model.q_proj.weight'])


def test_sinusoidal_table_matches_formula():
    pe = TextToVideoDenoiser().sequence_pos_encoder.pe
    for k, j in [(0, 0), (0, 1), (7, 10), (49, 511), (4999, 300), (4999, 301)]:
        angle = k / 10000 ** (2 * (j // 2) / OFFICIAL_WIDTH)
        expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
        assert pe[k, 0, j].item() == pytest.approx(expected, abs=1e-4)


def test_sinusoidal_table_is_shared():
    model = TextToVideoDenoiser(width=WIDTH, max_timesteps=MAX_STEPS)
    assert model.embed_timestep.sequence_pos_encoder is model.sequence_pos_encoder


@pytest.mark.parametrize('cls', DENOISERS)
def test_build_from_registry(cls):
    model = MODELS.build(dict(type=cls.__name__, width=WIDTH, max_timesteps=MAX_STEPS, temp=0.5))
    assert isinstance(model, cls) and model.temp == 0.5


@pytest.mark.parametrize('cls', DENOISERS)
def test_init_weights_follows_official(cls):
    model = cls()
    model.init_weights()
    assert model.decoder[0].weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert not model.proj.bias.any() and not model.decoder[2].bias.any()


@pytest.mark.parametrize('cls', DENOISERS)
def test_output_shape_and_no_dropout(cls):
    model = build(cls)
    inputs = make_inputs(cls)
    out = model.train()(*inputs)
    assert out.shape == (BATCH, NUM_CANDIDATES)
    # The official denoisers never apply their dropout, so train and eval agree.
    torch.testing.assert_close(out, model.eval()(*inputs))


@pytest.mark.parametrize('cls', DENOISERS)
def test_gradient_reaches_every_parameter(cls):
    model = build(cls)
    model(*make_inputs(cls)).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def perturb_padded_frame(cls, inputs):
    """Change only the features of the padded frame(s)."""
    x, timesteps, first, frames, mask = inputs
    frames = frames.clone()
    if cls is TextToVideoDenoiser:
        frames[:, 1:3, -1] += 10 * torch.randn_like(frames[:, 1:3, -1])
    else:
        frames[1:3, -1] += 10 * torch.randn_like(frames[1:3, -1])
    return x, timesteps, first, frames, mask


@pytest.mark.parametrize('cls', DENOISERS)
def test_padded_frames_ignored_when_renormalized(cls):
    model = build(cls, renormalize_masked_pooling=True).eval()
    inputs = make_inputs(cls)
    torch.testing.assert_close(model(*inputs), model(*perturb_padded_frame(cls, inputs)))


@pytest.mark.parametrize('cls', DENOISERS)
def test_padded_frames_leak_in_official_mode(cls):
    # Official quirk: the pooling softmax includes padded frames, so their features matter.
    model = build(cls).eval()
    inputs = make_inputs(cls)
    before, after = model(*inputs), model(*perturb_padded_frame(cls, inputs))
    assert not torch.allclose(before, after)
    if cls is VideoToTextDenoiser:
        # Query video 0 has no padding, so its row cannot change.
        torch.testing.assert_close(before[0], after[0])


# ---- straightforward loop references of the official t2v / v2t denoisers, one query ----


def linear(layer, vec):
    return layer.weight @ vec + (layer.bias if layer.bias is not None else 0)


def noise_embedding(model, k):
    width = model.width
    pe = torch.tensor([
        math.sin(k / 10000 ** (2 * (j // 2) / width)) if j % 2 == 0 else
        math.cos(k / 10000 ** (2 * (j // 2) / width)) for j in range(width)
    ], dtype=torch.double)
    mlp = model.embed_timestep.time_embed
    return linear(mlp[2], F.silu(linear(mlp[0], pe)))


def softmax(values):
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


def pool(model, query, frames, mask):
    """Attention-pool T frames with ``query``; padded frames per the module's option."""
    valid = [t for t in range(len(frames)) if mask[t] > 0]
    considered = valid if model.renormalize_masked_pooling else range(len(frames))
    weights = softmax([(query @ frames[t]).item() / model.temp for t in considered])
    pooled = torch.zeros_like(query)
    for w, t in zip(weights, considered):
        pooled = pooled + w * mask[t] * frames[t]
    return pooled


def attend_and_decode(model, x, cond, queries, keys_in):
    """The official attention and decoder steps with per-candidate queries (t2v repeats the single text query)."""
    logits = [
        (linear(model.q_proj, queries[n] + cond) @ linear(model.k_proj, keys_in[n] + cond)).item() +
        x[n].item() for n in range(len(keys_in))
    ]
    attn = softmax(logits)
    summary = sum(a * linear(model.v_proj, keys_in[n] + cond) for n, a in enumerate(attn))
    summary = linear(model.proj, summary)
    out = []
    for n, a in enumerate(attn):
        hidden = torch.relu(linear(model.decoder[0], torch.cat([summary, keys_in[n]])))
        out.append(linear(model.decoder[2], hidden).item() + a)
    return torch.tensor(out, dtype=torch.double)


def reference_t2v(model, x, k, text, frames, mask):
    cond = noise_embedding(model, k)
    pooled = [pool(model, text, frames[n], mask[n]) for n in range(len(frames))]
    return attend_and_decode(model, x, cond, [text] * len(pooled), pooled)


def reference_v2t(model, x, k, texts, frames, mask):
    cond = noise_embedding(model, k)
    pooled = [pool(model, texts[n], frames, mask) for n in range(len(texts))]
    return attend_and_decode(model, x, cond, pooled, texts)


@pytest.mark.parametrize('renormalize', [False, True])
@pytest.mark.parametrize('cls,reference', [(TextToVideoDenoiser, reference_t2v),
                                           (VideoToTextDenoiser, reference_v2t)])
def test_matches_loop_reference(cls, reference, renormalize):
    model = build(cls, temp=0.7, renormalize_masked_pooling=renormalize).eval()
    inputs = make_inputs(cls)
    with torch.no_grad():
        batched = model(*inputs)
        for b in range(BATCH):
            x, timesteps, first, frames, mask = (tensor[b] for tensor in inputs)
            expected = reference(model, x, timesteps.item(), first, frames, mask)
            # Loose beyond float64 only because the module's table is float32, as officially.
            torch.testing.assert_close(batched[b], expected, rtol=1e-6, atol=1e-6)


# ---- step-invariant precomputation for sampling ----

CACHED_STEPS = (0, 1, MAX_STEPS // 2, MAX_STEPS - 1)


@pytest.mark.parametrize('announce_steps', [True, False])
@pytest.mark.parametrize('renormalize', [False, True])
@pytest.mark.parametrize('cls', DENOISERS)
def test_cached_denoising_equals_forward(cls, renormalize, announce_steps):
    """precompute + denoise_cached == forward (float32), at every step of one cache, for noise
    levels announced to precompute (looked up) or not (computed when used)."""
    torch.manual_seed(0)
    model = cls(width=WIDTH, max_timesteps=MAX_STEPS, temp=0.7,
                renormalize_masked_pooling=renormalize).eval()
    x, _, *features = (tensor.float() for tensor in make_inputs(cls))
    announced = torch.tensor(CACHED_STEPS[::-1]) if announce_steps else None
    with torch.no_grad():
        cache = model.precompute(*features, timesteps=announced)
        for k in CACHED_STEPS:
            expected = model(x, torch.full((BATCH, ), k), *features)
            torch.testing.assert_close(model.denoise_cached(x, k, cache), expected, rtol=1e-5,
                                       atol=1e-5)
            x = 3 * torch.randn_like(x)  # the cache serves every step: only x changes


@pytest.mark.parametrize('cls', DENOISERS)
def test_cached_denoising_keeps_gradients(cls):
    model = build(cls)
    x, _, *features = make_inputs(cls)
    model.denoise_cached(x, 3, model.precompute(*features)).sum().backward()
    assert model.v_proj.weight.grad is not None and model.decoder[2].weight.grad is not None


@pytest.mark.parametrize('cls', DENOISERS)
def test_cache_shapes(cls):
    model = build(cls).eval()
    _, _, *features = make_inputs(cls)
    cache = model.precompute(*features, timesteps=torch.tensor([4, 2, 0]))
    num_query_vectors = 1 if cls is TextToVideoDenoiser else NUM_CANDIDATES
    assert cache.query_proj.shape == (BATCH, num_query_vectors, WIDTH)
    assert cache.key_proj.shape == (BATCH, NUM_CANDIDATES, WIDTH)
    assert cache.query_key.shape == (BATCH, NUM_CANDIDATES)
    assert cache.hidden_value.shape == cache.hidden_candidate.shape == (BATCH, NUM_CANDIDATES,
                                                                        2 * WIDTH)
    assert cache.noise_rows == {4: 0, 2: 1, 0: 2}
    assert cache.noise_hidden.shape == (3, 2 * WIDTH)
    assert cache.noise_logits.shape == (BATCH, NUM_CANDIDATES, 3)
