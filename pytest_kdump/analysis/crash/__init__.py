"""The crash utility as an analysis backend: its install (:mod:`.tool`), one process per dump
(:mod:`.process`), parsers of its commands (:mod:`.parse`) and the Analysis built from them
(:mod:`.backend`)."""
