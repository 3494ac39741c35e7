"""The Streamlit dashboard (the entry file is ``app.py``); only UI glue lives here, computing is in ``mbi``.

- ``models``: cached loads and the sidebar's choice of model;
- ``urlsync``: page settings kept in the URL (parsing: ``mbi.urlstate``);
- ``session_weights``: the eq. (1) weights every lookup page uses;
- ``lookups``: the chosen model's table, search indexes and traces;
- ``furniture``: titles, friendly errors, figures, tables, downloads;
- ``sidebar``: the shared sidebar;
- ``pages/``: one thin script per topic.
"""
