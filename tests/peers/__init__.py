"""Parity tests against the upstream packages of the peers extra (mamba_ssm, fla, ...)."""
