"""Framework-neutral bookkeeping of a joint model's towers (one encoder per modality).

A joint model keeps its tower for modality ``m`` in the attribute ``<m>_encoder`` (so a
:class:`~mmcourse.torch.DualEncoder` keeps ``image_encoder`` and ``text_encoder``, and its saved
weights keep their names); :class:`TowerSet` derives ``towers`` and ``modalities`` from those
attributes and adds new ones with :meth:`TowerSet.add_tower`. Each track mixes it into its
``JointEncoder`` (``mmcourse.torch.encoders`` / ``mmcourse.keras.encoders``), which supplies
``_tower_items()`` and ``_is_tower(obj)``. Imports neither framework.
"""
from __future__ import annotations

import re

SUFFIX = "_encoder"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_modality_name(modality, name: str = "modality") -> str:
    """A modality name: a lower-case identifier such as "image", "text", "audio", "video"."""
    if not isinstance(modality, str) or not _NAME.match(modality):
        raise ValueError(f"{name}: expected a lower-case identifier such as 'image' or 'audio', "
                         f"got {modality!r}")
    return modality


class TowerSet:
    """Mixin: ``towers`` {modality: encoder} in registration order, ``modalities``, ``tower(m)``,
    ``add_tower(m, encoder)``."""

    def _tower_items(self):  # (attribute name, object) pairs in registration order
        raise NotImplementedError

    def _is_tower(self, obj) -> bool:
        raise NotImplementedError

    @property
    def towers(self) -> dict:
        """{modality: encoder} for every ``<modality>_encoder`` tower, in registration order."""
        return {name[:-len(SUFFIX)]: obj for name, obj in self._tower_items()
                if name.endswith(SUFFIX) and len(name) > len(SUFFIX) and self._is_tower(obj)}

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this model embeds, e.g. ``("image", "text")``."""
        return tuple(self.towers)

    def tower(self, modality):
        """The encoder of ``modality``; ValueError naming the modalities the model has."""
        towers = self.towers
        if modality not in towers:
            raise ValueError(f"modality: expected one of the model's modalities {tuple(towers)}, "
                             f"got {modality!r}")
        return towers[modality]

    def add_tower(self, modality, tower):
        """Add ``tower`` (an encoder whose output has the model's ``embed_dim``) for ``modality``
        as attribute ``<modality>_encoder``; returns the model. The towers already there are
        unchanged (nothing is re-initialised)."""
        modality = check_modality_name(modality)
        if modality in self.towers:
            raise ValueError(f"modality: expected a modality the model has no tower for yet "
                             f"(it has {self.modalities}), got {modality!r}")
        if not self._is_tower(tower):
            raise ValueError(f"tower: expected an encoder module of this framework, got "
                             f"{type(tower).__name__}")
        dim = getattr(tower, "embed_dim", None)
        if dim is not None and dim != self.embed_dim:
            raise ValueError(f"tower: expected an output of embed_dim={self.embed_dim} (the joint "
                             f"space), got embed_dim={dim}")
        setattr(self, modality + SUFFIX, tower)
        return self
