"""``newsearch serve``: the HTTP API and the search page over a live index.

``app.create_app`` builds the ASGI application (FastAPI on Starlette, served by uvicorn);
``run.serve`` starts it, with a watcher when asked. Nothing here is imported by the other
commands: ``newsearch query`` loads none of FastAPI, Starlette, uvicorn or Jinja2.
"""
