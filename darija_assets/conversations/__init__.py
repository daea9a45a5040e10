"""Conversations: chat exports and therapy sessions as turns and training examples.

``turns`` reads a conversation source (through the importer, so speakers are the same
pseudonyms as in raw_corpus), ``sessions`` parses session files, ``options`` holds a source's
conversation options, ``examples`` selects context and builds examples, ``embed`` is the
offline sentence encoder for retrieval and ``special_tokens`` the ``<USR_A> ... <SYS>``
format. No Dagster here; darija_assets/assets/conversations.py wires it into the graph.
"""
