"""The example app of warp's README: a Flask app with one page and a stylesheet.

`warp build` installs Flask from requirements.txt into .warp/venv, and
`warp start` serves `app` (found by convention in app.py) and the static/
folder (mapped in warp.yaml) on http://127.0.0.1:8080/.
"""

from flask import Flask

app = Flask(__name__, static_folder=None)


@app.route("/")
def hello():
    return '<link rel="stylesheet" href="/static/hello.css"><h1>Hello from warp</h1>\n'
