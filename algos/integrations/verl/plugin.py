"""verl plugin entry point (``[project.entry-points."verl.plugins"]``): importing it registers everything."""

from algos.integrations.verl import register

REGISTERED = register()
