from .clip_builder import build_clip, clip_arch_config, load_clip_weights, read_clip_state_dict
from .clip_text_frame_encoder import CLIPTextFrameEncoder

__all__ = ['CLIPTextFrameEncoder', 'build_clip', 'clip_arch_config', 'load_clip_weights',
           'read_clip_state_dict']
