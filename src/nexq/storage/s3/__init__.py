"""The S3 protocol: routing, authentication, XML, errors and one handler module per family."""
