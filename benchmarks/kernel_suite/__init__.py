"""The kernel benchmark: every op's forms and the peer libraries' kernels, forward + backward over T."""
