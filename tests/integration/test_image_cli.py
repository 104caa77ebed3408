"""`warp image` errors that need no Docker Engine: one line, the right exit status."""

from support import one_error_line, warp, write


def test_no_engine_answering_is_one_line_and_exit_1(tmp_path):
    app = write(tmp_path, {"app.py": "def application(environ, start_response): pass\n"})
    proc = warp("image", "whatever", "--app", str(app), env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    one_error_line(proc, 1, "no Docker engine answers", "no-engine.sock", "DOCKER_HOST")


def test_invalid_name_is_a_usage_error(tmp_path):
    proc = warp("image", "Not A Name", "--app", str(tmp_path))
    one_error_line(proc, 2, "not a valid image name")
