"""Suite-wide settings: headless plotting, deterministic hypothesis runs, quiet TensorFlow."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hypothesis import HealthCheck, settings  # noqa: E402

# Deterministic (same examples every run) and free of wall-clock deadlines: the suite runs on a
# shared 2-core machine, and performance is measured by `make bench`, never by timed tests.
settings.register_profile(
    "mmcourse", derandomize=True, deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("mmcourse")
