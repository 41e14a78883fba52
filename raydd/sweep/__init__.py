"""The Ray layer: sweep trials, evaluation dispatcher and actor pool, job submission."""
