"""Object stores: one interface, one module per backend."""

from storage.objects.base import ListedObject, ObjectStore, StoredObject

__all__ = ["ListedObject", "ObjectStore", "StoredObject"]
