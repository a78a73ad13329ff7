"""What a run leaves behind for people and tools: the per-test ``kdump.json`` record
(:mod:`.record`), and the nightly report over nights of them: the artifact folders read back
(:mod:`.nights`), the crash baseline (:mod:`.baseline`), the summary (:mod:`.summary`) and
its offline HTML page (:mod:`.html`); ``pytest-kdump report`` on the command line."""
