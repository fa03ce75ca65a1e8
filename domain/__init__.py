"""Business rules shared by every front end: the chat handlers, the CLI and the web pages.

Pure: no Telegram, no SQL, no I/O. The modules here take and return the plain types of
storage.models (and surveys), and raise the errors of domain.errors, which each front end
turns into its own text. Dependency rule: surveys <- storage.models <- domain <- storage's
repositories and bot/ (nothing here imports bot/ or a repository).
"""
