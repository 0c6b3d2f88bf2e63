"""Tools around the study, not stages of it: their outputs are inputs a user may supply instead.

- :mod:`ganstyle.tools.render_scripts`: the ``render-scripts`` command that renders the demo corpus (``data/demo``).
- :mod:`ganstyle.tools.script_text`: the characters and random text of a writing system it renders.
"""
