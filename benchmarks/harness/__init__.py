"""What every benchmark shares: timing and peak memory, the machine's description, result files."""
