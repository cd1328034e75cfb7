"""Dataset examples: one pass over a photo folder (`scan`), top and bottom photos per channel
(`DatasetIndex`), cached per folder and model (`store`), and checks of visualizations against them.

folder: the photo folder and each photo as the model sees it; fields: measured receptive fields;
tables: running top-k tables; scan: the pass and `load_or_scan`; index: reading the tables back;
store: where the tables live; checks: pattern agreement with the photos.
"""

from generator.dataset.checks import PatternCheck, check_patterns
from generator.dataset.fields import ReceptiveField
from generator.dataset.folder import list_images, load_view
from generator.dataset.index import DatasetIndex, Example, ScanSummary
from generator.dataset.scan import load_or_scan

__all__ = [
    "DatasetIndex",
    "Example",
    "PatternCheck",
    "ReceptiveField",
    "ScanSummary",
    "check_patterns",
    "list_images",
    "load_or_scan",
    "load_view",
]
