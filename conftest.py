"""Repository-wide test configuration: pytester runs pytest-kdump in a child pytest."""

pytest_plugins = ["pytester"]
