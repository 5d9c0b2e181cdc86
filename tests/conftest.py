import jax

jax.config.update("jax_enable_x64", True)

# tests/multidevice need four devices: tests/test_multidevice.py runs them in their own process
collect_ignore = ["multidevice"] if len(jax.local_devices()) < 4 else []
