"""mlopsctl: reproducible ML projects from scaffold to served model."""

__version__ = "0.1.0"
