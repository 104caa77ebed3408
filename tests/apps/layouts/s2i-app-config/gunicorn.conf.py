bind = "0.0.0.0:8085"
workers = 2
