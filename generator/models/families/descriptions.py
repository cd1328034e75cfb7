"""One or two sentences per architecture, for articles to quote (`{{ model.description }}`).

Keyed by the start of the model name as torchvision and timm spell it; the longest key that
starts the name wins, and an unknown architecture gets a plain sentence naming it.
"""

from __future__ import annotations

ARCHITECTURES = {
    "resnet": "A residual network (He et al., 2015): a 7x7 stem convolution and max pooling, then "
    "four stages of residual blocks, each block adding its convolutions' output to its input.",
    "googlenet": "GoogLeNet (Szegedy et al., 2014), the Inception v1 network of the Distill "
    "article: three stem convolutions, then nine Inception (mixed) blocks that run 1x1, 3x3 and "
    "5x5 convolutions and pooling side by side and concatenate them.",
    "inception": "An Inception network (Szegedy et al.): stem convolutions, then mixed blocks "
    "that run convolutions of several sizes side by side and concatenate them.",
    "vgg": "VGG (Simonyan and Zisserman, 2014): plain stacks of 3x3 convolutions with ReLU, five "
    "stages separated by max pooling; each layer here is one convolution's ReLU output.",
    "mobilenet_v3": "MobileNetV3 (Howard et al., 2019): a stem convolution, inverted residual "
    "blocks (1x1 expansion, depthwise convolution, optional squeeze-and-excitation, 1x1 "
    "projection) with hard-swish activations, and a 1x1 head convolution.",
    "mobilenetv3": "MobileNetV3 (Howard et al., 2019): a stem convolution, inverted residual "
    "blocks with squeeze-and-excitation and hard-swish activations, and a 1x1 head convolution.",
    "convnext": "ConvNeXt (Liu et al., 2022): a patchifying 4x4 stem, then four stages of blocks "
    "that each run a 7x7 depthwise convolution, layer norm and an inverted-bottleneck MLP with "
    "GELU, added to the block's input.",
    "efficientnet": "EfficientNet (Tan and Le, 2019): a stem convolution, seven stages of "
    "inverted residual blocks (MBConv) with squeeze-and-excitation and SiLU, and a 1x1 head "
    "convolution.",
    "tf_efficientnet_lite": "EfficientNet-Lite (Tan and Le, 2019): a stem convolution, inverted "
    "residual blocks with ReLU6 and no squeeze-and-excitation, and a 1x1 head convolution.",
    "regnet": "RegNet (Radosavovic et al., 2020): a stem convolution and four stages of residual "
    "bottleneck blocks with group convolutions, their widths and depths from a simple design "
    "rule.",
    "vit": "A vision transformer (Dosovitskiy et al., 2020): the image cut into square patches, "
    "each embedded as a token, then transformer blocks (self-attention and an MLP with GELU, "
    "each added to the residual stream). A layer here is the residual stream after a block, its "
    "channels the stream's dimensions averaged over the patch tokens.",
    "swin": "Swin Transformer (Liu et al., 2021): 4x4 patches embedded as tokens, then four "
    "stages of transformer blocks that attend within shifted local windows, each stage after the "
    "first begun by patch merging that halves the grid. A layer here is a block's output, its "
    "channels the token dimensions at each grid position.",
    "densenet": "DenseNet (Huang et al., 2017): a stem convolution, then four dense blocks in "
    "which each layer takes the concatenated outputs of every layer before it, separated by "
    "transition layers (a 1x1 convolution and pooling).",
    "mixer": "MLP-Mixer (Tolstikhin et al., 2021): the image cut into square patches, each "
    "embedded as a token, then blocks of two MLPs, one mixing across the tokens and one across "
    "the channels, with no convolution or attention after the patch embedding.",
    "deit": "DeiT (Touvron et al., 2021), a vision transformer trained data-efficiently: patch "
    "tokens through transformer blocks (self-attention and an MLP with GELU). A layer here is "
    "the residual stream after a block, its channels the stream's dimensions averaged over the "
    "patch tokens.",
}


def describe(name: str, library: str) -> str:
    keys = [k for k in ARCHITECTURES if name.startswith(k)]
    if not keys:
        return f"{library}'s {name}."
    return ARCHITECTURES[max(keys, key=len)]
