"""The official-checkpoint converter, and parameter parity with the official model."""
from pathlib import Path

import open_clip
import pytest
import torch

from mmdret.models.encoders import clip_arch_config
from mmdret.registry import MODELS
from mmdret.utils import register_all_modules
from tool_loader import load_tool

ROOT = Path(__file__).resolve().parents[2]
WIDTH, TEMPORAL_LAYERS = 64, 2


def load_converter():
    return load_tool('convert', 'diffusionret_official_to_mmdret.py')


def tiny_model_cfg(with_reranker=True):
    cfg = dict(
        type='DiffusionRet',
        encoder=dict(type='CLIPTextFrameEncoder', arch='tiny-64', temporal_layers=TEMPORAL_LAYERS,
                     temporal_heads=2),
        similarity_head=dict(type='WTISimilarityHead', embed_dim=WIDTH, hidden_dim=2 * WIDTH))
    if with_reranker:
        cfg['reranker'] = dict(
            type='DiffusionReranker',
            t2v_denoiser=dict(type='TextToVideoDenoiser', width=WIDTH),
            v2t_denoiser=dict(type='VideoToTextDenoiser', width=WIDTH),
            scheduler=dict(type='DDIMScheduler', num_train_timesteps=10), num_inference_steps=5,
            topk=4)
    return cfg


def official_denoiser(prefix, width, generator):
    def rand(*shape):
        return torch.randn(*shape, generator=generator)
    table = torch.zeros(5000, 1, width)
    keys = {f'{prefix}.{name}.weight': rand(width, width)
            for name in ('q_proj', 'k_proj', 'v_proj')}
    keys.update({
        f'{prefix}.proj.weight': rand(width, width), f'{prefix}.proj.bias': rand(width),
        f'{prefix}.sequence_pos_encoder.pe': table,
        f'{prefix}.embed_timestep.sequence_pos_encoder.pe': table,
        f'{prefix}.embed_timestep.time_embed.0.weight': rand(width, width),
        f'{prefix}.embed_timestep.time_embed.0.bias': rand(width),
        f'{prefix}.embed_timestep.time_embed.2.weight': rand(width, width),
        f'{prefix}.embed_timestep.time_embed.2.bias': rand(width),
        f'{prefix}.decoder.0.weight': rand(2 * width, 2 * width),
        f'{prefix}.decoder.0.bias': rand(2 * width),
        f'{prefix}.decoder.2.weight': rand(1, 2 * width), f'{prefix}.decoder.2.bias': rand(1)})
    return keys


def fabricate_official_checkpoint(path):
    """An official-layout stage-2 state dict (the official key names) at tiny widths, fp16 CLIP."""
    generator = torch.Generator().manual_seed(3)
    cfg = clip_arch_config('tiny-64')
    clip = open_clip.model.CLIP(**cfg, quick_gelu=True)
    state = {}
    for key, value in clip.state_dict().items():
        value = torch.randn(value.shape, generator=generator)
        # GPU-trained official checkpoints keep Linear/Conv/MHA weights and projections in fp16.
        is_fp16 = value.dim() >= 2 and 'embedding' not in key or key.endswith('proj')
        state['clip.' + key] = value.half() if is_fp16 else value
    width = WIDTH
    state['frame_position_embeddings.weight'] = torch.randn(cfg['text_cfg']['context_length'],
                                                            width, generator=generator)
    for i in range(TEMPORAL_LAYERS):
        block = f'transformerClip.resblocks.{i}.'
        for name, shape in (('attn.in_proj_weight', (3 * width, width)),
                            ('attn.in_proj_bias', (3 * width,)),
                            ('attn.out_proj.weight', (width, width)),
                            ('attn.out_proj.bias', (width,)), ('ln_1.weight', (width,)),
                            ('ln_1.bias', (width,)), ('ln_2.weight', (width,)),
                            ('ln_2.bias', (width,)), ('mlp.c_fc.weight', (4 * width, width)),
                            ('mlp.c_fc.bias', (4 * width,)), ('mlp.c_proj.weight', (width, 4 * width)),
                            ('mlp.c_proj.bias', (width,))):
            state[block + name] = torch.randn(shape, generator=generator)
    for branch in ('text_weight_fc', 'video_weight_fc'):
        state[f'{branch}.0.weight'] = torch.randn(2 * width, width, generator=generator)
        state[f'{branch}.0.bias'] = torch.randn(2 * width, generator=generator)
        state[f'{branch}.2.weight'] = torch.randn(1, 2 * width, generator=generator)
        state[f'{branch}.2.bias'] = torch.randn(1, generator=generator)
    state.update(official_denoiser('diffusion_model', width, generator))
    state.update(official_denoiser('diffusion_model_v', width, generator))
    torch.save(state, path)
    return state


def test_converted_checkpoint_loads_strictly_with_the_right_tensors(tmp_path):
    register_all_modules()
    converter = load_converter()
    official = fabricate_official_checkpoint(tmp_path / 'best.pth')
    converter.main([str(tmp_path / 'best.pth'), str(tmp_path / 'mmdret.pth')])
    converted = torch.load(tmp_path / 'mmdret.pth', weights_only=True)
    assert converted['meta']['stage'] == 'generation'
    model = MODELS.build(tiny_model_cfg())
    model.load_state_dict(converted['state_dict'], strict=True)

    state = model.state_dict()
    pairs = {
        'clip.visual.conv1.weight': 'encoder.clip.visual.conv1.weight',
        'clip.logit_scale': 'encoder.clip.logit_scale',
        'transformerClip.resblocks.1.mlp.c_fc.weight':
            'encoder.temporal_transformer.resblocks.1.mlp.c_fc.weight',
        'frame_position_embeddings.weight': 'encoder.frame_position_embeddings.weight',
        'video_weight_fc.2.weight': 'similarity_head.video_weight_fc.2.weight',
        'diffusion_model.q_proj.weight': 'reranker.t2v_denoiser.q_proj.weight',
        'diffusion_model_v.decoder.0.weight': 'reranker.v2t_denoiser.decoder.0.weight',
    }
    for official_key, ours in pairs.items():
        assert state[ours].dtype == torch.float32
        torch.testing.assert_close(state[ours], official[official_key].float(), rtol=0, atol=0)


def test_converter_rejects_unknown_keys_and_checks_strictly(tmp_path):
    converter = load_converter()
    official = fabricate_official_checkpoint(tmp_path / 'best.pth')
    torch.save(dict(official, **{'loss_arcfct.weight': torch.zeros(1)}), tmp_path / 'odd.pth')
    with pytest.raises(KeyError, match='loss_arcfct.weight'):
        converter.main([str(tmp_path / 'odd.pth'), str(tmp_path / 'out.pth')])
    del official['diffusion_model.proj.bias']
    with pytest.raises(RuntimeError, match='proj.bias'):
        converter.check_strict(converter.convert_state_dict(official),
                               str(write_config(tmp_path)))


def test_strict_check_builds_the_paper_config_without_its_clip_file(tmp_path, monkeypatch):
    """The paper config names checkpoints/clip/ViT-B-32.pt; the converted checkpoint holds CLIP."""
    from mmengine.config import Config
    register_all_modules()
    converter = load_converter()
    config = ROOT / 'configs/diffusionret/diffusionret_stage2_vit-b-32_4xb32-5e_msrvtt-9k.py'
    monkeypatch.chdir(tmp_path)
    clip_file = Config.fromfile(config).model.encoder.pretrained
    assert clip_file == 'checkpoints/clip/ViT-B-32.pt' and not Path(clip_file).exists()
    state_dict = MODELS.build(converter.model_config(config)).state_dict()
    assert len(state_dict) == 389  # every tensor of the official stage-2 model
    converter.check_strict(state_dict, str(config))
    del state_dict['reranker.t2v_denoiser.proj.bias']
    with pytest.raises(RuntimeError, match='proj.bias'):
        converter.check_strict(state_dict, str(config))


def test_converter_names_a_bad_path_before_loading_anything(tmp_path, capsys):
    converter = load_converter()
    garbage = tmp_path / 'best.pth'
    garbage.write_bytes(b'not a checkpoint')
    cases = [
        ([str(tmp_path / 'missing.pth'), str(tmp_path / 'out.pth')], 'src: no such file'),
        ([str(garbage), str(tmp_path / 'out.pth'), '--config', str(tmp_path / 'missing.py')],
         '--config: no such file'),
        ([str(garbage), str(tmp_path / 'no_folder' / 'out.pth')], 'dst: the folder'),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as error:
            converter.main(argv)
        assert error.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / 'out.pth').exists()


def write_config(tmp_path):
    path = tmp_path / 'tiny_stage2.py'
    path.write_text(f'model = {tiny_model_cfg()!r}\n')
    return path


def test_vit_b32_parameter_counts_match_the_official_model():
    """Official checkpoints: stage-2 total 170,228,997; stage 1 164,978,947 of which 162,619,651 train."""
    register_all_modules()
    cfg = dict(
        type='DiffusionRet',
        encoder=dict(type='CLIPTextFrameEncoder', arch='ViT-B-32'),
        similarity_head=dict(type='WTISimilarityHead'),
        reranker=dict(type='DiffusionReranker'))
    stage2 = MODELS.build(cfg)
    stage1 = [p for name, p in stage2.named_parameters() if not name.startswith('reranker.')]
    assert sum(p.numel() for p in stage2.parameters()) == 170_228_997
    assert sum(p.numel() for p in stage1) == 164_978_947
    stage2.encoder.requires_grad_(True)  # back to stage-1 trainability: all but conv1
    stage2.encoder.clip.visual.conv1.requires_grad_(False)
    stage2.similarity_head.requires_grad_(True)
    assert sum(p.numel() for p in stage1 if p.requires_grad) == 162_619_651
    stage2.encoder.requires_grad_(False)
    stage2.similarity_head.requires_grad_(False)
    trainable = {n.split('.')[0] for n, p in stage2.named_parameters() if p.requires_grad}
    assert trainable == {'reranker'}
    assert sum(p.numel() for p in stage2.parameters() if p.requires_grad) == 2 * 2_625_025
