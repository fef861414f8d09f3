"""Object Storage: buckets, objects, multipart uploads, access keys."""
