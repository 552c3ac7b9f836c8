"""The GPU check: the wheels it carries to the GPU machine (`make gpu-wheels`, here) and the check itself
(`make gpu-check`, there): every Triton kernel's tests and the peer parity tests on CUDA, and a short kernel
benchmark beside the peers. README.md (Development) gives the device call."""
