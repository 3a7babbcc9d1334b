"""rq job functions and the worker entry point. Jobs take ids and primitives and open their own DB session."""
