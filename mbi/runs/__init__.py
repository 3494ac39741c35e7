"""Long work and its storage: background jobs, sweeps, trace caches, studies and reproduce."""
