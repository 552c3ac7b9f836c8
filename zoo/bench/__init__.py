"""Benchmarks: kernel and model timings against peer libraries, with JSON results and plots."""
