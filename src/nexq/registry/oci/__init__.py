"""The OCI distribution protocol (what docker, podman, skopeo and containerd speak)."""
