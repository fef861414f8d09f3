"""The user guide: Markdown pages that services ship in their packages, served at /docs.

Importing this package loads nothing: a service's descriptor names its pages with
:mod:`nexq.web.guide.section` (plain data), and only the control plane loads the renderer.
"""
