"""Object stores: one interface, one module per backend."""

from storage.objects.base import ObjectStore, StoredObject

__all__ = ["ObjectStore", "StoredObject"]
