"""Yekuo's workflow engine: a library around SpiffWorkflow that never imports Flask.

Interfaces (the REST API, the pages, the command line) call the plain functions of the modules
here; see docs/architecture.md for the map.
"""
