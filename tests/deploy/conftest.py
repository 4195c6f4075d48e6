"""What an operator runs: the CLI, migrations and settings, the embedded servers and `up`,
the demo, the compose file and the bench harness."""
