"""The REST API: assembled from each service's routes, with one auth and error scheme."""
