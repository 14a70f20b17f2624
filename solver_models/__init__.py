"""solver_models package."""
