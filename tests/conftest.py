import jax

jax.config.update("jax_enable_x64", True)

# tests/multidevice need four devices: tests/test_multidevice.py runs them in their own process
collect_ignore = ["multidevice"] if len(jax.local_devices()) < 4 else []


def free_coordinator_port() -> int:
    """A free localhost port for a jax.distributed coordinator, below Linux's ephemeral range
    (32768+), so the collectives' own connections of a concurrent test cannot take it between
    this check and the coordinator's bind."""
    import random
    import socket

    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("localhost", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000..32000")
