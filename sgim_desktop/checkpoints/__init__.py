"""The model manager: a catalog of known checkpoints, resumable verified downloads, import and cache.

Nothing here imports torch at import time; a test load of a file happens only while verifying one.
"""

from sgim_desktop.checkpoints.catalog import Catalog, CheckpointSpec, load_catalog
from sgim_desktop.checkpoints.download import DownloadOptions
from sgim_desktop.checkpoints.manager import ModelManager, ModelStatus, checkpoint_help, resolve_checkpoint
from sgim_desktop.checkpoints.meter import DownloadProgress
from sgim_desktop.checkpoints.units import human_bytes

__all__ = [
    "Catalog",
    "CheckpointSpec",
    "DownloadOptions",
    "DownloadProgress",
    "ModelManager",
    "ModelStatus",
    "checkpoint_help",
    "human_bytes",
    "load_catalog",
    "resolve_checkpoint",
]
