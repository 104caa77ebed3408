"""`warp build`: environments, installers, hooks, buildpacks and the build record."""
