"""`featvis serve`: a jailed static server, and a preview that rebuilds as the author edits.

`jail` serves one folder and nothing outside it; `live` is the reload channel (Server-Sent
Events) and the script it injects into served pages; `watch` turns file changes into rebuild
requests; `preview` keeps the model loaded and re-renders the site into its own folder, with
placeholders for what a background `featvis compute` has yet to finish; `command` is the verb.
"""
