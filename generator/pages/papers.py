"""The paper of each architecture featvis knows, for an article to cite as `[@model]`.

`papers.bib`, beside this module, holds their entries; `model_paper(model_id)` gives the key of
the paper that introduced the network a model id names: the embedded EfficientNet-Lites' and, for
`torchvision:NAME` and `timm:NAME`, the longest key of `PAPERS` that starts NAME as a whole word
(`resnet` for `resnet50`, `resnetv2` for `resnetv2_50`, not `vit` for `vitamin_small`; timm's
TensorFlow ports, `tf_...`, as their originals). A network of the user's own (`python:`) or an
architecture not listed has none. Reading needs no torch: the id alone decides.
"""

from __future__ import annotations

import re
from pathlib import Path

from generator.config.model_ids import LITE, PYTHON, form_of

PAPERS_BIB = Path(__file__).resolve().parent / "papers.bib"

# the start of a torchvision or timm model name -> the key in papers.bib of its paper
PAPERS = {
    "alexnet": "krizhevsky2012imagenet",
    "convnext": "liu2022convnet",
    "convnextv2": "woo2023convnext",
    "deit": "touvron2021training",
    "deit3": "touvron2022deit",
    "densenet": "huang2017densely",
    "efficientnet": "tan2019efficientnet",
    "efficientnet_v2": "tan2021efficientnetv2",
    "efficientnetv2": "tan2021efficientnetv2",
    "googlenet": "szegedy2015going",
    "inception_resnet_v2": "szegedy2017inception",
    "inception_v3": "szegedy2016rethinking",
    "inception_v4": "szegedy2017inception",
    "maxvit": "tu2022maxvit",
    "mixer": "tolstikhin2021mlp",
    "mnasnet": "tan2019mnasnet",
    "mobilenet_v2": "sandler2018mobilenetv2",
    "mobilenet_v3": "howard2019searching",
    "mobilenetv2": "sandler2018mobilenetv2",
    "mobilenetv3": "howard2019searching",
    "regnet": "radosavovic2020designing",
    "regnetx": "radosavovic2020designing",
    "regnety": "radosavovic2020designing",
    "resnet": "he2016deep",
    "resnetv2": "he2016identity",
    "resnext": "xie2017aggregated",
    "shufflenet_v2": "ma2018shufflenet",
    "squeezenet": "iandola2016squeezenet",
    "swin": "liu2021swin",
    "swin_v2": "liu2022swin",
    "swinv2": "liu2022swin",
    "vgg": "simonyan2015very",
    "vit": "dosovitskiy2021image",
    "wide_resnet": "zagoruyko2016wide",
}
LITE_PAPER = "tan2019efficientnet"


def model_paper(model_id: str) -> str | None:
    """The key in papers.bib of the paper of the network `model_id` names (None: not known)."""
    form = form_of(model_id)
    if form is LITE:
        return LITE_PAPER
    if form is PYTHON:
        return None
    name = model_id[len(form.prefix):].lower().removeprefix("tf_")
    keys = [k for k in PAPERS if re.match(rf"{re.escape(k)}(?![a-z])", name)]
    return PAPERS[max(keys, key=len)] if keys else None
