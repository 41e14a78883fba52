"""Shared fixtures. `ray_local` starts one small local Ray for the whole session, and only for
the tests that ask for it, so tests without Ray never pay its start-up."""

import os

import pytest

# Before any Ray import in a test process: no usage reporting, no token auth on a local cluster.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="session")
def fault_plans(tmp_path_factory) -> str:
    """Where tests arm the faults of tests/fault_injection.py for Ray's workers."""
    return str(tmp_path_factory.mktemp("fault-plans"))


@pytest.fixture(scope="session")
def ray_local(fault_plans):
    """A local Ray with 2 CPUs, shared by every test of the session that requests it. Its workers
    carry tests/fault_injection.py's patches (idle until a test arms a fault)."""
    import fault_injection
    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(fault_injection)  # workers cannot import tests/
    install = fault_injection.install

    def inject_faults() -> None:
        install(fault_plans)

    # log_to_driver=False: Ray's forwarded log lines (a raylet's disk-space warning, a worker's
    # print) would otherwise land in the output of whatever CLI call a test is capturing.
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024**2, log_to_driver=False,
             runtime_env={"worker_process_setup_hook": inject_faults})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def results_sample(tmp_path_factory):
    """The hand-made results of tests/test_results_support.py, written and loaded back."""
    from raydd.results import load
    from test_results_support import write_sample

    location = tmp_path_factory.mktemp("results")
    write_sample(location)
    return load(str(location))


@pytest.fixture
def broken_cpp_compiler():
    """Inductor pointed at a C++ compiler that does not exist, with nothing cached to fall back on."""
    import torch._dynamo
    import torch._inductor.config as inductor_config

    from raydd.core.distill.compiled import require_compile

    torch._dynamo.reset()
    require_compile.cache_clear()
    with inductor_config.patch({"cpp.cxx": ("/nonexistent/c++",), "fx_graph_cache": False}):
        yield
    torch._dynamo.reset()
    require_compile.cache_clear()
