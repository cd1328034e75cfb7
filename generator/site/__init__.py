"""HTML: the Jinja2 environment, the writer, the articles, the explorer and the manifest."""
