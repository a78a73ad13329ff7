"""What a run leaves behind for people and tools: the per-test ``kdump.json`` record
(:mod:`.record`); signature baselines and nightly summaries come next."""
