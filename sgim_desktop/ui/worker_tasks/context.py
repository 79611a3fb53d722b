"""What the tasks share on the task thread: the models loaded, prepared sounds, the labels, the face detector.

Only the task thread touches a context. One set of models is kept at a time (a new generator or
device replaces it); the worker is told when models start and finish loading, so the window can
say so whatever task asked for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sgim_desktop.errors import BadInputError, SgimError

if TYPE_CHECKING:
    from sgim_desktop.engine.api import EditModels
    from sgim_desktop.session import SoundClip
    from sgim_desktop.ui.worker_tasks.loading import ModelLoader

PREPARED_CACHE = 8


class TaskContext:
    def __init__(self, loader: Callable[[], "ModelLoader"], labels: str = "vggsound",
                 on_loading: Callable[[str], None] = lambda generator_id: None,
                 on_loaded: Callable[[str, str], None] = lambda generator_id, device: None):
        self._make_loader = loader
        self._loader: ModelLoader | None = None
        self.labels_name = labels
        self._on_loading = on_loading
        self._on_loaded = on_loaded
        self._models: EditModels | None = None
        self.models_key: tuple[str, str] | None = None
        self._prepared: dict[str, Any] = {}
        self._labels: list[str] | None = None
        self._detector: Any = None

    @property
    def loader(self) -> "ModelLoader":
        if self._loader is None:
            self._loader = self._make_loader()
        return self._loader

    # -- models ------------------------------------------------------------------------------------

    def key_for(self, generator_id: str, device: str) -> tuple[str, str]:
        """(generator id, the device ``device`` resolves to here); a device this machine lacks is a message."""
        from sgim_desktop.engine.api import pick_device

        try:
            return generator_id, pick_device(device)
        except SgimError:
            raise BadInputError(f"the device '{device}' is not available here: choose Automatic or CPU") from None

    def has_models(self, generator_id: str, device: str) -> bool:
        try:
            return self.models_key is not None and self.key_for(generator_id, device) == self.models_key
        except SgimError:
            return False

    def models(self, generator_id: str, device: str) -> "EditModels":
        """The models for this generator on this device, loaded now unless they are the ones kept."""
        key = self.key_for(generator_id, device)
        if self._models is not None and self.models_key == key:
            return self._models
        self._on_loading(generator_id)
        self._models = None
        self.models_key = None
        models = self.loader.load(*key)
        self._models, self.models_key = models, key
        self._on_loaded(*key)
        return models

    def perceptual(self) -> Any:
        return self.loader.perceptual(self.models_key[1]) if self.models_key else None

    def face_encoder(self, generator_id: str) -> Any:
        return self.loader.face_encoder(generator_id, self.models_key[1] if self.models_key else "cpu")

    # -- sounds --------------------------------------------------------------------------------------

    def remember(self, key: str, prepared: Any) -> None:
        self._prepared.pop(key, None)
        self._prepared[key] = prepared
        while len(self._prepared) > PREPARED_CACHE:
            self._prepared.pop(next(iter(self._prepared)))

    def prepared(self, clip: "SoundClip") -> Any:
        """The clip's sound ready for the encoder: kept from when it was opened, else prepared again."""
        prepared = self._prepared.get(clip.key)
        if prepared is None:
            from sgim_desktop.engine.api import open_sound

            prepared = open_sound(clip.sound).prepared
        self.remember(clip.key, prepared)
        return prepared

    def labels(self) -> list[str]:
        if self._labels is None:
            from sgim_desktop.engine.api import load_labels

            self._labels = load_labels(self.labels_name)
        return self._labels

    # -- photos --------------------------------------------------------------------------------------

    def face_detector(self) -> Any:
        if self._detector is None:
            from sgim_desktop.engine.api import face_detector

            self._detector = face_detector()
        return self._detector
