"""What a stage needs to run, built once per process from the settings.

The executor (local pool or rq worker) builds a Context in each process; stages receive it
and never ask where they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from kho.core.catalog import Catalog
from kho.core.permissions import file_policy
from kho.core.settings import Settings
from kho.core.storage import Storage


@dataclass
class Context:
    settings: Settings

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.settings.catalog_url, audit=self.settings.audit)

    @cached_property
    def storage(self) -> Storage:
        return Storage(self.settings.home, file_policy(self.settings.storage))

    @cached_property
    def index(self):
        return open_index(self.settings)

    @cached_property
    def taxonomy(self):
        from kho.classify.taxonomy import load_taxonomy

        return load_taxonomy(self.settings.taxonomy or None)

    @cached_property
    def classifier(self):
        """The newest trained model under `home/models`, or None (keyword rules then)."""
        from kho.classify.model import latest_model, load_model

        path = latest_model(self.settings.home / "models")
        return load_model(path) if path else None

    def close(self) -> None:
        for name in ("catalog", "index"):
            if name in self.__dict__:
                self.__dict__.pop(name).close()


def open_index(settings: Settings):
    """The search index the settings name: embedded SQLite FTS5 or Elasticsearch."""
    from kho.index.cursor import Cursors

    # one key under the storage root for every process
    cursors = Cursors.at(settings.home, file_policy(settings.storage))
    if settings.backend == "elasticsearch":
        from kho.index.elastic import ElasticIndex

        return ElasticIndex(
            settings.elasticsearch_url,
            settings.index_name,
            options=settings.elasticsearch,
            cursors=cursors,
        )
    from kho.index.embedded import EmbeddedIndex

    return EmbeddedIndex(settings.home / "index.sqlite", cursors=cursors)
