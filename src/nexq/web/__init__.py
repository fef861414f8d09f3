"""Kits that know no service: the REST API kit and the web console kit."""
