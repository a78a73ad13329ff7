"""The kdump cycle: phases, results, advice. No labgrid, no pytest: usable from a script."""
