"""GitHub: the PyGithub adapter, account linking by OAuth, and the webhook receiver."""
