"""The prediction service: what runs inside the image and behind `mlopsctl serve`.

Imports only the standard library, numpy and (when a model is loaded) what the model's
pickle needs, plus uvicorn to run it: no typer, rich, dvc or pandas. Nothing here imports
the rest of mlopsctl, so the image ships just `mlopsctl/__init__.py` and this package.
"""
