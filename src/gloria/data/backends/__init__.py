"""Model backends of the data pipeline, each behind a small interface (see docs/data.md)."""
