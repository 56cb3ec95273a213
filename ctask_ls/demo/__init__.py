"""The scripted demo: ``ctask demo`` and the stand-in agent it runs."""
