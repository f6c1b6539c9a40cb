"""Settings, the domain error tree and logging set-up, shared by every room."""
