"""The composition root: the `ccp` command line and the process roles (see ARCHITECTURE.md §2)."""
