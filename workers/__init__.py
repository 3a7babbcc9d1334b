"""rq job functions and the worker entry point (arrives with the SMS issue)."""
