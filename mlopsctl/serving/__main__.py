"""`python -m mlopsctl.serving`: the image's entrypoint (configured by environment)."""

from mlopsctl.serving.server import main

main()
