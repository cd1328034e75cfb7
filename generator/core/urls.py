"""The site's URL scheme: where each explorer page lives, relative to the site root.

    explorer/index.html                              the models of the site
    explorer/<model-slug>/index.html                 one model: a strip of thumbnails per layer
    explorer/<model-slug>/<layer>.html               one layer: every computed channel
    explorer/<model-slug>/<layer>/<channel>.html     one channel
    explorer/compare.html                            the same bands of every model, side by side
    explorer/search-index.js                         the offline search index

`model_slug` turns a model id into a folder name (`efficientnet_lite0`, `torchvision:resnet50` ->
`torchvision-resnet50`, `python:../mycnn.py:build` -> `mycnn`); a model named in site.toml
(`name = "My net"`) has the folder of its name (`model_folder`: `my-net`; a name with no Latin
letter or digit, `name = "猫"`, the folder of its id). Every URL the site writes is relative;
pages at the root reach it with `""`, the explorer's index with `"../"`, a model's pages with
`"../../"` and channel pages with `"../../../"` (`root_prefix`). Articles may link
`explorer/<layer>.html` (the layout before models had folders); `article_link` maps that to the
site's first model.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

EXPLORER_INDEX = "explorer/index.html"
SEARCH_INDEX = "explorer/search-index.js"
COMPARE_PAGE = "explorer/compare.html"
PYTHON_PREFIX = "python:"
# What the offline checker (generator.check) reads as an external URL in any text the site ships:
# a scheme's http(s):// or a protocol-relative //host.tld. Text read into the site (labels) is
# checked with it where it is read, so the mistake names its own file and line.
EXTERNAL_URL = re.compile(
    r"https?://|(?<![\w:/])//[A-Za-z0-9][\w.-]*\.[A-Za-z]{2,}", re.IGNORECASE
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_OLD_LAYER = re.compile(r"^explorer/(?P<file>[\w.-]+\.html)(?P<rest>#.*)?$")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def model_slug(model_id: str) -> str:
    """A folder name for a model id: accents dropped (`Über` -> `Uber`), runs of characters
    other than letters, digits, `.`, `_` and `-` one `-` (`torchvision:resnet50` ->
    `torchvision-resnet50`); a name with nothing Latin in it is `model-` and a short hash of the
    id. A network of the user's own is named by its file, not its loader string
    (`python:../nets/mycnn.py:build` -> `mycnn`; `python:pkg.nets:build` -> `nets`)."""
    name = model_id
    if model_id.startswith(PYTHON_PREFIX):
        target = model_id[len(PYTHON_PREFIX) :].rpartition(":")[0] or model_id
        name = target.replace("\\", "/").rsplit("/", 1)[-1]
        name = name[:-3] if name.endswith(".py") else name.rsplit(".", 1)[-1]
    return _fold(name) or "model-" + hashlib.sha256(model_id.encode()).hexdigest()[:8]


def ascii_folded(text: str) -> str:
    """`text` with its accents dropped and every other non-ASCII character left out (`Über` ->
    `Uber`, `猫` -> ``): the letters of a page's or a model's folder name."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _fold(text: str) -> str:
    """`text` as ASCII letters, digits, `.`, `_` and `-`; "" when nothing of it is Latin."""
    return _UNSAFE.sub("-", ascii_folded(text)).strip("-.")


def model_folder(model_id: str, name: str | None = None) -> str:
    """A model's explorer folder: `model_slug` of its display name where site.toml gives one
    (`name = "My net"` -> `my-net`), else of its id, also for a name with no Latin letter or digit
    (`name = "猫"`): folders and links stay ASCII, and distinct model ids keep distinct folders."""
    return (_fold(name.lower()) if name else "") or model_slug(model_id)


def model_url(model_id: str) -> str:
    """The explorer page of a model (relative to the site root)."""
    return f"explorer/{model_slug(model_id)}/index.html"


def layer_file(layer: str) -> str:
    """A layer's page file name (inside its model's folder)."""
    return _safe(layer) + ".html"


def layer_url(model_id: str, layer: str, channel: int | None = None) -> str:
    """The explorer page of a layer (relative to the site root), with the channel's anchor."""
    return f"explorer/{model_slug(model_id)}/{layer_file(layer)}" + (
        f"#ch-{channel}" if channel is not None else ""
    )


def channel_url(model_id: str, layer: str, channel: int) -> str:
    """The page of one channel (relative to the site root)."""
    return f"explorer/{model_slug(model_id)}/{_safe(layer)}/{int(channel)}.html"


def root_prefix(url: str) -> str:
    """The relative URL of the site root from the page at `url` (relative to the root)."""
    return "../" * url.split("#", 1)[0].count("/")


def article_link(path: str, model_id: str) -> str | None:
    """An article's `explorer/<layer>.html[#...]` link (no model folder) as the URL of that
    layer's page of `model_id`; None when `path` is not such a link."""
    m = _OLD_LAYER.match(path)
    if m is None or f"explorer/{m.group('file')}" in (EXPLORER_INDEX, COMPARE_PAGE):
        return None
    return f"explorer/{model_slug(model_id)}/{m.group('file')}{m.group('rest') or ''}"
