"""Machine-readable formats of the reports: check, estimate and cluster JSON, and Prometheus metrics."""
