"""The simulated PBX and the simulator: workloads, a discrete-event clock, simulated callers,
callees and agents. Powers ``callcenter simulate`` (virtual time), ``callcenter demo`` (real
time) and the benchmarks. The ACD and dialer decisions it exercises are the server's own
(:mod:`callcenter.acd`, :mod:`callcenter.dialer`), never a simulation-only copy."""
