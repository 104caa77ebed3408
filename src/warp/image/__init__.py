"""`warp image NAME`: turn an application folder into a container image.

``render`` turns facts about the app into Dockerfile text (no Docker needed),
``context`` chooses the files that enter the build, ``pipconf`` carries the
host's package index settings into the build stage only, ``wheel`` packs the
running warp so the image runs the same warp, and ``build`` drives the Docker
Engine through the docker SDK. Only ``build`` imports ``docker``.
"""
