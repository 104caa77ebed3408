import socket

import pytest

from warp.runtime.server.sockets import BindError, Listener, bind_all, parse_address


@pytest.mark.parametrize("text, family, sockaddr", [
    ("127.0.0.1:8000", socket.AF_INET, ("127.0.0.1", 8000)),
    (":8000", socket.AF_INET, ("0.0.0.0", 8000)),
    ("8000", socket.AF_INET, ("0.0.0.0", 8000)),
    ("[::1]:8000", socket.AF_INET6, ("::1", 8000)),
    ("[::]:80", socket.AF_INET6, ("::", 80)),
    ("unix:/tmp/a.sock", socket.AF_UNIX, "/tmp/a.sock"),
    ("localhost:81", None, None),
])
def test_parse_address(text, family, sockaddr):
    address = parse_address(text)
    if family is not None:
        assert (address.family, address.sockaddr) == (family, sockaddr)
    else:
        assert address.sockaddr[1] == 81


@pytest.mark.parametrize("text", ["1.2.3.4:http", "::1:80", "[::1", "unix:", "1.2.3.4:70000"])
def test_parse_address_rejects(text):
    with pytest.raises(BindError):
        parse_address(text)


def test_bind_in_use_says_so():
    first = bind_all(["127.0.0.1:0"], 16)[0]
    try:
        port = first.sock.getsockname()[1]
        with pytest.raises(BindError, match="in use|another process"):
            bind_all([f"127.0.0.1:{port}"], 16)
    finally:
        first.close()


def test_unix_socket_stale_file_is_replaced_and_removed_on_close(tmp_path):
    path = str(tmp_path / "s.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays behind, nobody listens
    listener = bind_all([f"unix:{path}"], 16)[0]
    client = socket.socket(socket.AF_UNIX)
    client.connect(path)
    client.close()
    with pytest.raises(BindError, match="another server"):
        bind_all([f"unix:{path}"], 16)
    listener.close()
    assert not (tmp_path / "s.sock").exists()


def test_reuse_port_master_reserves_without_listening():
    listener = Listener(parse_address("127.0.0.1:0"), 16, reuse_port=True)
    port = listener.sock.getsockname()[1]
    probe = socket.socket()
    with pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))
    probe.close()
    own = listener.worker_socket()
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = own.accept()
    conn.close()
    client.close()
    own.close()
