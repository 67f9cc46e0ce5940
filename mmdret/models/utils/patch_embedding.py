"""ViT patch embedding as one matrix product, with an optional motion stem."""
from typing import Optional

import torch
from torch import Tensor, nn


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Non-overlapping patches of images, flattened in ``(channel, row, column)`` order.

    Args:
        images (Tensor): ``(N, C, H, W)``. Rows and columns past the last whole patch are
            dropped, as a strided convolution drops them.
        patch_size (int): patch side in pixels.

    Returns:
        Tensor: ``(N, (H // p) * (W // p), C * p * p)``, patches in row-major grid order.
    """
    num, channels, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    images = images[..., :rows * patch_size, :cols * patch_size]
    patches = images.reshape(num, channels, rows, patch_size, cols, patch_size)
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(num, rows * cols, -1)


class PatchEmbedding(nn.Conv2d):
    """A ``Conv2d(kernel_size=stride=p)`` patch embedding computed as patchify + one GEMM.

    Same parameters and state-dict keys as the convolution it replaces (CLIP's
    ``visual.conv1``) and the same function; on CPUs the GEMM (and its backward) is several
    times faster than the convolution kernels for a stride equal to the kernel.

    With ``motion_offset=k`` the weight has twice the image channels and each frame ``t`` is
    embedded as ``[f_t, f_{t+k} - f_t]`` (``f_{T-1}`` past the end), a stem that lets a tiny CLIP
    trained from scratch see motion in a few minutes. It is computed as
    ``(W_a - W_b) f_t + W_b f_{t+k}`` so the six-channel input is never materialised; it
    needs clips ``(B, T, C, H, W)``.

    Args:
        in_channels (int): channels of the weight (2x the image channels with a motion stem).
        out_channels (int): embedding width.
        patch_size (int): patch side (kernel size and stride).
        bias (bool): add a bias. Defaults to False (CLIP has none).
        motion_offset (int, optional): frame offset ``k`` of the motion stem. Defaults to None.
        device (torch.device, optional): device of the parameters. Defaults to None.
        dtype (torch.dtype, optional): dtype of the parameters. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 patch_size: int,
                 bias: bool = False,
                 motion_offset: Optional[int] = None,
                 device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, patch_size, patch_size, bias=bias,
                         device=device, dtype=dtype)
        if motion_offset is not None and (motion_offset < 1 or in_channels % 2):
            raise ValueError('a motion stem needs motion_offset >= 1 and an even number of '
                             f'weight channels, got {motion_offset} and {in_channels}')
        self.motion_offset = motion_offset

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, motion_offset: Optional[int] = None):
        """The patch embedding equal to ``conv`` (same weights), or a motion stem initialised
        with the spread of ``conv``'s weights and twice its input channels.

        Args:
            conv (nn.Conv2d): a convolution with ``kernel_size == stride`` and no padding.
            motion_offset (int, optional): see the class. Defaults to None.
        """
        if (conv.kernel_size != conv.stride or conv.kernel_size[0] != conv.kernel_size[1]
                or conv.padding != (0, 0) or conv.groups != 1 or conv.dilation != (1, 1)):
            raise ValueError(f'{conv} is not a patch embedding (square kernel == stride, no '
                             'padding, dilation or groups)')
        widen = 2 if motion_offset is not None else 1
        # A copy draws no random numbers (built on 'meta'), so what is initialised after it
        # gets the same values as beside the convolution.
        embed = cls(widen * conv.in_channels, conv.out_channels, conv.kernel_size[0],
                    bias=conv.bias is not None, motion_offset=motion_offset,
                    device='meta' if motion_offset is None else conv.weight.device,
                    dtype=conv.weight.dtype)
        embed = embed.to_empty(device=conv.weight.device)
        with torch.no_grad():
            if motion_offset is None:
                embed.weight.copy_(conv.weight)
            else:
                nn.init.normal_(embed.weight, std=conv.weight.std().item())
            if conv.bias is not None:
                embed.bias.copy_(conv.bias)
        return embed

    def forward(self, x: Tensor) -> Tensor:
        """Embed images ``(N, C, H, W)`` or clips ``(B, T, C, H, W)`` into
        ``(N or B*T, out_channels, H // p, W // p)``, the convolution's output layout.

        Args:
            x (Tensor): images, or clips (required with a motion stem).
        """
        patch = self.kernel_size[0]
        weight = self.weight.flatten(1)
        if self.motion_offset is None:
            patches = patchify(x.flatten(0, 1) if x.dim() == 5 else x, patch)
            out = patches @ weight.t()
        else:
            if x.dim() != 5:
                raise ValueError('a motion-stem patch embedding needs clips (B, T, C, H, W), '
                                 f'got shape {tuple(x.shape)}')
            batch, frames = x.shape[:2]
            patches = patchify(x.flatten(0, 1), patch)
            current, later = weight.chunk(2, dim=1)
            out = patches @ (current - later).t()
            ahead = (patches @ later.t()).unflatten(0, (batch, frames))
            index = torch.arange(frames, device=x.device).add(self.motion_offset)
            out = out + ahead[:, index.clamp(max=frames - 1)].flatten(0, 1)
        if self.bias is not None:
            out = out + self.bias
        rows, cols = x.shape[-2] // patch, x.shape[-1] // patch
        return out.transpose(1, 2).unflatten(2, (rows, cols))
