import os

from warp.runtime.server import scoreboard as sb


def test_writes_in_a_child_are_seen_by_the_parent():
    board = sb.Scoreboard(4, 2)
    board.reset(1, generation=7, state=sb.BOOTING)
    pid = os.fork()
    if pid == 0:
        # The child must never return into pytest, whatever happens.
        status = 1
        try:
            board.set_pid(1, os.getpid())
            board.set_state(1, sb.READY)
            board.request_started(1, 1, "POST", "/upload/" + "x" * 500, b"10.0.0.1")
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    view = board.read(1)
    assert (view.pid, view.generation, view.state_name) == (pid, 7, "busy")
    request = view.oldest_request()
    assert request.method == "POST" and request.client == "10.0.0.1"
    assert request.path.startswith("/upload/xxx") and len(request.path) == 240
    board.request_finished(1, 1, 1)
    assert board.read(1).state_name == "idle" and board.read(1).requests == 1
    board.beat(1, requests=5)
    assert board.read(1).requests == 5
    assert board.read(0).state_name == "free"


def test_a_worker_killed_mid_write_does_not_wedge_the_slot():
    import struct
    board = sb.Scoreboard(2, 1)
    board.reset(0, generation=1, state=sb.BOOTING)
    board.set_pid(0, 1234)
    # What a SIGKILL between the two halves of a write leaves behind: an odd sequence.
    seq = struct.unpack_from("=Q", board._mem, 0)[0]
    struct.pack_into("=Q", board._mem, 0, seq + 1)
    assert board.read(0).pid == 1234  # the reader gives up waiting and reads anyway
    board.reset(0)
    assert struct.unpack_from("=Q", board._mem, 0)[0] % 2 == 0
    board.set_state(0, sb.READY)
    assert board.read(0).state == sb.READY


def test_a_request_run_unshown_is_seen_as_in_flight_by_the_parent_until_it_ends():
    board = sb.Scoreboard(2, 1)
    board.reset(1, generation=1, state=sb.READY)
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            board.inline_started(1, 1234.5)
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    view = board.read(1)
    assert view.inline_since == 1234.5 and view.busy == [] and view.state_name == "idle"
    board.inline_finished(1)
    assert board.read(1).inline_since == 0.0
    board.inline_started(1, 99.0)
    board.reset(1)   # a reaped worker's mark does not outlive it
    assert board.read(1).inline_since == 0.0 and board.read(0).inline_since == 0.0
