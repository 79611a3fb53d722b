"""Where the window's models come from, as far as the GUI thread needs to know: no torch here.

A provider lists the generators a person can pick and says which models are still missing (from
the checkpoint catalog, cheaply, on the GUI thread). Loading is the task thread's business: a
provider hands out a loader (``ui/worker_tasks/loading.py``), which is where torch comes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sgim_desktop.engine.plans import ModelFiles
from sgim_desktop.errors import CheckpointError, SgimError

if TYPE_CHECKING:
    from sgim_desktop.checkpoints.manager import ModelManager
    from sgim_desktop.ui.worker_tasks.loading import ModelLoader


@dataclass(frozen=True)
class GeneratorChoice:
    """A generator the person can pick in the window."""

    id: str
    name: str
    domain: str | None
    resolution: int | None


class ModelProvider(Protocol):
    """What the window knows about models (cheap, GUI thread) and who loads them (task thread)."""

    def generators(self) -> list[GeneratorChoice]: ...

    def default_generator(self) -> str: ...

    def missing(self, generator_id: str) -> list[str]: ...

    def missing_ids(self, generator_id: str) -> list[str]: ...

    def has_identity(self, generator_id: str) -> bool: ...

    def loader(self) -> "ModelLoader": ...

    def generator_file(self, generator_id: str) -> str | None: ...


def domain_of(provider: ModelProvider, generator_id: str) -> str | None:
    return next((g.domain for g in provider.generators() if g.id == generator_id), None)


class CatalogModels:
    """Models from the model manager's folder: the catalog's CLIP and audio encoder, the chosen generator.

    Nothing is downloaded here: a missing file is reported, and the models dialog fetches it.
    """

    def __init__(self, manager: "ModelManager | None" = None):
        self._manager = manager

    @property
    def manager(self) -> "ModelManager":
        if self._manager is None:
            from sgim_desktop.checkpoints.manager import ModelManager

            self._manager = ModelManager()
        return self._manager

    def generators(self) -> list[GeneratorChoice]:
        try:
            specs = self.manager.catalog.by_role("generator")
        except SgimError:
            return []
        return [GeneratorChoice(s.id, s.display_name, s.domain, s.resolution) for s in specs]

    def default_generator(self) -> str:
        try:
            return self.manager.catalog.default_for("generator").id
        except SgimError:
            return ""

    def _needed(self, generator_id: str) -> list[str]:
        catalog = self.manager.catalog
        ids = []
        for role in ("clip", "audio_encoder"):
            try:
                ids.append(catalog.default_for(role).id)
            except CheckpointError:
                pass
        if generator_id in catalog:
            ids.append(generator_id)
        return ids

    def missing_ids(self, generator_id: str) -> list[str]:
        try:
            return [i for i in self._needed(generator_id) if not self.manager.is_present(i)]
        except SgimError:
            return []

    def missing(self, generator_id: str) -> list[str]:
        try:
            return [self.manager.spec(i).display_name for i in self.missing_ids(generator_id)]
        except SgimError as exc:
            return [str(exc)]

    def has_identity(self, generator_id: str) -> bool:
        """A face generator with the face identity model (ArcFace) downloaded: λ id can be used."""
        try:
            catalog = self.manager.catalog
            if generator_id not in catalog or catalog.get(generator_id).domain != "face":
                return False
            return self.manager.is_present(catalog.default_for("identity").id)
        except SgimError:
            return False

    def files(self, generator_id: str) -> ModelFiles:
        """The checkpoint files of one set of edit models, each checked against its record (task thread:
        checking hashes takes a while). ArcFace comes along for a face generator when it is downloaded."""
        missing = self.missing(generator_id)
        if missing:
            raise CheckpointError("missing models: " + "; ".join(missing) + " (open Tools > Models to get them)")
        manager, catalog = self.manager, self.manager.catalog
        identity = None
        if catalog.get(generator_id).domain == "face":
            try:
                spec = catalog.default_for("identity")
                identity = manager.ensure(spec.id) if manager.is_present(spec.id) else None
            except CheckpointError:
                identity = None
        return ModelFiles(generator=manager.ensure(generator_id),
                          audio_encoder=manager.ensure(catalog.default_for("audio_encoder").id),
                          clip=manager.ensure(catalog.default_for("clip").id), identity=identity)

    def loader(self) -> "ModelLoader":
        from sgim_desktop.ui.worker_tasks.loading import CatalogLoader

        return CatalogLoader(self)

    def generator_file(self, generator_id: str) -> str | None:
        """Where the generator is in the models folder (its directions live beside it); None while missing."""
        try:
            present = generator_id in self.manager.catalog and self.manager.is_present(generator_id)
            return str(self.manager.path_for(generator_id)) if present else None
        except SgimError:
            return None


class PrebuiltModels:
    """Models already in memory (tests, screenshots, embedding the window elsewhere): its own loader."""

    def __init__(self, models: Any, generator_id: str = "prebuilt", name: str = "Prebuilt generator",
                 domain: str | None = None, perceptual: Any = None, encoder: Any = None,
                 generator_file: str | None = None):
        self.models = models
        self._generator_file = generator_file
        self.choice = GeneratorChoice(generator_id, name, domain, None)
        self._perceptual = perceptual
        self._encoder = encoder

    def generators(self) -> list[GeneratorChoice]:
        return [self.choice]

    def default_generator(self) -> str:
        return self.choice.id

    def missing(self, generator_id: str) -> list[str]:
        return []

    def missing_ids(self, generator_id: str) -> list[str]:
        return []

    def has_identity(self, generator_id: str) -> bool:
        return self.choice.domain == "face" and getattr(self.models, "identity", None) is not None

    def loader(self) -> "PrebuiltModels":
        return self

    def generator_file(self, generator_id: str) -> str | None:
        """The file the models' generator was loaded from, when given (its directions live beside it)."""
        return self._generator_file if generator_id == self.choice.id else None

    def load(self, generator_id: str, device: str) -> Any:
        return self.models

    def perceptual(self, device: str) -> Any:
        return self._perceptual

    def face_encoder(self, generator_id: str, device: str) -> Any:
        return self._encoder
