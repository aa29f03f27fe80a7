import pytest

from server import Server


@pytest.fixture(scope="session")
def server():
    running = Server()
    yield running
    assert running.stop() == 0, "the server did not stop cleanly: " + "".join(running.output)
