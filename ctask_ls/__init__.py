"""ctask_ls: run coding agents in persistent tmux sessions without losing track of them."""

__version__ = "0.1.0"
