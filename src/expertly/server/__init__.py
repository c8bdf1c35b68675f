"""``expertly serve``: an OpenAI-compatible HTTP API over one Workspace.

``create_app(workspace, settings)`` (in ``expertly.server.app``) builds the FastAPI app;
``expertly.server.keys`` holds the API keys and needs no web framework, so that
``expertly keys`` works without the ``server`` extra. Nothing here is imported by
``import expertly``.
"""
