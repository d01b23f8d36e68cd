"""Large generated counties (4399NN) for benchmarks and load tests; bulk-inserted, no change log."""
