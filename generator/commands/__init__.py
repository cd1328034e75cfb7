"""The command-line verbs, one module per family; `generator.cli` parses and calls in here."""
