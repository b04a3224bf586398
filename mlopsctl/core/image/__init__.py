"""Container images of a model: the build context, the dependency layer and the OCI writer."""
