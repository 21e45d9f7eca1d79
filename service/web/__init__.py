"""The pages astronomers use: the ranked list (``/``) and an object's page, rendered on the server (Jinja2)."""
