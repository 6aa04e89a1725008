"""Server-rendered pages of the economy (Jinja2 templates, SVG charts drawn in Python); see docs/web.md."""
