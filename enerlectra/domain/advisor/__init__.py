"""The AI energy advisor: topics, the offline answer bank, what we tell the model about a user, and
the questions table (daily limit, follow-ups, claiming and recording answers)."""
