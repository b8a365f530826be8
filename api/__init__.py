"""Yekuo's interfaces: the web app (REST API and pages) and the `yekuo` command line.

Thin by design: each handler validates input, calls one engine function and renders the result.
"""
