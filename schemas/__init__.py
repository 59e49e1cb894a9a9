"""Avro contracts of Mercado and the loader that parses, fingerprints and checks them."""

from schemas.loader import AvroSchema, SchemaLoadError, SchemaSet, load_directory, load_schemas

__all__ = ["AvroSchema", "SchemaLoadError", "SchemaSet", "load_directory", "load_schemas"]
