"""Runs code snippets one at a time in this process, for tests/python/test_bad_inputs.py.

The test starts this script as a subprocess (one per pytest worker), so that a case that crashes the
interpreter (a segfault, an abort, a hang) kills this process, not pytest: the test that sent the case
fails with the exit status, and the next case starts a fresh runner. Imports are paid once per runner.

Protocol: one JSON object per line on stdin, {"code": "..."}; one JSON object per line on the
original stdout: {"outcome": "ok"} or {"outcome": "raised", "type": ..., "bases": [...], "message": ...,
"traceback": ...}. The snippet's own prints go to stderr.
"""
import json
import os
import sys
import traceback


def main() -> int:
    results = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    build_python = os.environ.get("DD_CASE_RUNNER_PATH")
    if build_python:
        sys.path.insert(0, build_python)

    import numpy as np
    import torch

    import differential_dynamics as dd
    from differential_dynamics import audio, family, functional, metrics, modules, probes, streaming

    torch.set_num_threads(1)
    base = {"np": np, "torch": torch, "dd": dd, "audio": audio, "family": family, "F": functional,
            "metrics": metrics, "modules": modules, "probes": probes, "streaming": streaming}
    prelude = os.environ.get("DD_CASE_RUNNER_PRELUDE")
    if prelude:
        exec(compile(prelude, "<prelude>", "exec"), base)
    results.write(json.dumps({"outcome": "ready"}) + "\n")
    results.flush()
    for line in sys.stdin:
        request = json.loads(line)
        namespace = dict(base)
        try:
            exec(compile(request["code"], "<case>", "exec"), namespace)
            result = {"outcome": "ok"}
        except BaseException as e:  # noqa: B902 — every outcome is reported, the test judges it
            result = {"outcome": "raised", "type": type(e).__name__,
                      "bases": [c.__name__ for c in type(e).__mro__], "message": str(e),
                      "traceback": traceback.format_exc()}
        finally:
            dd.set_num_threads(0)
            torch.set_grad_enabled(True)
        results.write(json.dumps(result) + "\n")
        results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
