"""Loading the models a provider names (task thread only: this is where torch comes in).

The catalog's loader keeps what it loaded in the engine API's ``ModelCache`` (CLIP and the audio
encoder survive a change of generator), and the LPIPS network and the e4e encoder beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from sgim_desktop.errors import CheckpointError

if TYPE_CHECKING:
    from sgim_desktop.engine.api import EditModels, ModelCache
    from sgim_desktop.ui.providers import CatalogModels


class ModelLoader(Protocol):
    def load(self, generator_id: str, device: str) -> "EditModels": ...

    def perceptual(self, device: str) -> Any: ...

    def face_encoder(self, generator_id: str, device: str) -> Any: ...


class CatalogLoader:
    """Loads from the model manager's folder; nothing is downloaded here (the models dialog does that)."""

    def __init__(self, catalog: "CatalogModels"):
        self.catalog = catalog
        self._cache: ModelCache | None = None
        self._perceptual: dict[str, Any] = {}
        self._encoder: tuple[str, str, Any] | None = None

    def load(self, generator_id: str, device: str) -> "EditModels":
        from sgim_desktop.engine.api import ModelCache

        files = self.catalog.files(generator_id)
        if self._cache is None:
            self._cache = ModelCache()
        return self._cache.get(files, device)

    def perceptual(self, device: str) -> Any:
        """LPIPS for inversions when its weights are downloaded, else None (the inversion uses pixels only)."""
        if device not in self._perceptual:
            from sgim_desktop.engine.api import perceptual_if_present

            net = perceptual_if_present(self.catalog.manager, device)
            if net is None:
                return None  # not kept: it may be downloaded in the models window later
            self._perceptual = {device: net}
        return self._perceptual[device]

    def face_encoder(self, generator_id: str, device: str) -> Any:
        """The catalog's e4e encoder for this generator when it is downloaded, else None (mean-latent start).

        A damaged file raises CheckpointError; the photo task then says so and inverts from the mean.
        """
        from sgim_desktop.engine.api import face_encoder_specs, load_face_encoder

        manager = self.catalog.manager
        try:
            if generator_id not in manager.catalog:
                return None
            spec = manager.catalog.get(generator_id)
            present = face_encoder_specs(manager, spec.domain, spec.resolution, present_only=True)
        except CheckpointError:
            return None
        if not present:
            return None
        key = (present[0].id, device)
        if self._encoder is None or self._encoder[:2] != key:
            self._encoder = None
            self._encoder = (*key, load_face_encoder(manager.ensure(present[0].id), device))
        return self._encoder[2]
