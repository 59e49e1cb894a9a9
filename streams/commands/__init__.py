"""The `mercado` command line: its commands, and the demo."""
