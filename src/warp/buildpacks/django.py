"""Django buildpack: collectstatic after the dependencies are installed."""


def detect(project, detection):
    if detection.framework.value == "django":
        return f"Django project ({detection.framework.reason}): runs collectstatic"
    return None


def inputs(project, detection):
    return []


def build(ctx):
    return {"collectstatic": "not run"}
