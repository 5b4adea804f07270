"""Encoder/decoder networks of Table 1 (App. A.1), plus the conv net of Burgess et al. (2018).

Every encoder maps images [b, C, 64, 64] to 2·M numbers (mean and log-variance of q(z|x));
every decoder maps z [b, M] to per-pixel logits [b, C, 64, 64].
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

Builder = Callable[[int, int], tuple[nn.Module, nn.Module]]


def mlp_2d_shapes(channels: int, latents: int) -> tuple[nn.Module, nn.Module]:
    """Table 1, 2D shapes: encoder FC 1200-1200 (ReLU); decoder FC 1200-1200-1200-4096 (tanh)."""
    pixels = channels * 64 * 64
    encoder = nn.Sequential(
        nn.Flatten(),
        nn.Linear(pixels, 1200), nn.ReLU(),
        nn.Linear(1200, 1200), nn.ReLU(),
        nn.Linear(1200, 2 * latents),
    )
    decoder = nn.Sequential(
        nn.Linear(latents, 1200), nn.Tanh(),
        nn.Linear(1200, 1200), nn.Tanh(),
        nn.Linear(1200, 1200), nn.Tanh(),
        nn.Linear(1200, pixels),
        nn.Unflatten(1, (channels, 64, 64)),
    )
    return encoder, decoder


def _conv_pair(channels: int, latents: int, widths: tuple[int, ...], hidden: tuple[int, ...]
               ) -> tuple[nn.Module, nn.Module]:
    """Four 4×4 stride-2 convolutions (64→4 px), FC layers, and the mirror-image decoder; ReLU throughout."""
    encoder_layers: list[nn.Module] = []
    in_channels = channels
    for width in widths:
        encoder_layers += [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.ReLU()]
        in_channels = width
    encoder_layers.append(nn.Flatten())
    in_features = widths[-1] * 4 * 4
    for size in hidden:
        encoder_layers += [nn.Linear(in_features, size), nn.ReLU()]
        in_features = size
    encoder_layers.append(nn.Linear(in_features, 2 * latents))

    decoder_layers: list[nn.Module] = []
    in_features = latents
    for size in reversed(hidden):
        decoder_layers += [nn.Linear(in_features, size), nn.ReLU()]
        in_features = size
    decoder_layers += [nn.Linear(in_features, widths[-1] * 4 * 4), nn.ReLU(), nn.Unflatten(1, (widths[-1], 4, 4))]
    out_widths = list(reversed(widths))[1:] + [channels]
    in_channels = widths[-1]
    for index, width in enumerate(out_widths):
        decoder_layers.append(nn.ConvTranspose2d(in_channels, width, 4, stride=2, padding=1))
        if index < len(out_widths) - 1:
            decoder_layers.append(nn.ReLU())
        in_channels = width
    return nn.Sequential(*encoder_layers), nn.Sequential(*decoder_layers)


def conv_table1(channels: int, latents: int) -> tuple[nn.Module, nn.Module]:
    """Table 1, CelebA / 3D chairs / 3D faces: conv 32-32-64-64 (4×4, stride 2), FC 256; deconv reverse."""
    return _conv_pair(channels, latents, widths=(32, 32, 64, 64), hidden=(256,))


def conv_burgess(channels: int, latents: int) -> tuple[nn.Module, nn.Module]:
    """Burgess et al. (2018), App. A.1: conv 32×4 (4×4, stride 2), FC 256-256; decoder the transpose."""
    return _conv_pair(channels, latents, widths=(32, 32, 32, 32), hidden=(256, 256))


ARCHITECTURE_BUILDERS: dict[str, Builder] = {
    "mlp": mlp_2d_shapes,
    "conv": conv_table1,
    "burgess": conv_burgess,
}
