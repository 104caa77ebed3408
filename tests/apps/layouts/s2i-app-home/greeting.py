TEXT = "s2i APP_HOME project, root importable"
