"""Beyond one machine: hand the app to an existing distributed engine.

``spec`` decides what runs (process types, health, limits, environment,
secrets) from the app and its ``deploy`` settings, with no engine; ``swarm``
creates and updates Docker Swarm services through the docker SDK
(`warp deploy`); ``kubernetes`` renders the same spec as Kubernetes manifests
(`warp manifest kubernetes`), pure data turned into YAML. warp never
schedules anything itself.
"""
