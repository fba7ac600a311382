"""glacier-ami-restore: an operator's command line for the glacier-ami-restore stack (see cli.py)."""

__version__ = "0.1.0"
