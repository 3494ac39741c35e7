"""Inference by lookups: lookup-only and mixed MBI, table-size curves and the metric search."""
