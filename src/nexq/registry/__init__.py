"""Container Registry: private OCI registries on Nexq's storage."""
