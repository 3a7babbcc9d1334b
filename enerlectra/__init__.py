"""Enerlectra's kernel: the domain, SQL, settings, translations, text budgets, the job queue and
the clock. It imports nothing of ours above it: every other package builds on it."""
