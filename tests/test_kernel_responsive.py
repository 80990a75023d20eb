"""While the steering panel generates, the kernel keeps answering: on ipykernel 7 (.venv) and 6 (.venv-ipykernel6).

Generation runs in a worker thread, so the kernel's main thread is free for shell messages. A widget
message from the browser is a ``comm_msg`` on the shell channel, handled like an ``execute_request``.

The test checks the ORDER of events, not their speed (how fast the kernel answers is measured in
bench/bench_responsiveness.py): the generation is held inside two of its model calls (a gate in a
forward pre-hook) and is let go only by execute_requests that the test sends. So the kernel must answer
an execute_request and apply a widget message while the generation is provably unfinished: if
generation blocked the kernel's main thread (ran there, or made the handlers wait for it), the gates
would never open and the test fails (on its generous guard) instead of passing late.
"""

from __future__ import annotations

import json
import queue
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
KERNELS = {"ipykernel7": ROOT / ".venv" / "bin" / "python", "ipykernel6": ROOT / ".venv-ipykernel6" / "bin" / "python"}
HOLDS = (8, 24)  # model calls (1 = the prompt's forward) at which the generation waits for the test

SETUP = f"""
import threading, ipykernel, saewidgets as sw
from saewidgets.widgets import steer_panel
lab = sw.load()
panel = lab.steer({{8746: 1.0}}, prompt="Tell me about your day.", max_new_tokens=160)
panel.run(); panel.wait()               # warm up; the unsteered text is cached from now on
steer_panel.THROTTLE_S = 0.0            # every step writes `result`: the test reads the stream's order, not its rate
calls, held, go = [0], {{n: threading.Event() for n in {HOLDS}}}, {{n: threading.Event() for n in {HOLDS}}}
def hold(module, args):
    calls[0] += 1
    if calls[0] in held:
        held[calls[0]].set()
        go[calls[0]].wait(600)          # only the test's execute_request opens it
def until_held(n):                      # the worker reached model call n (or the generation ended first)
    while not held[n].wait(0.05) and panel.result['status'] == 'running':
        pass
    return panel.result['status'], panel.result.get('tokens', 0), calls[0]
landed = []                             # what was true when the widget message was applied
panel.observe(lambda c: landed.append([c['new'], panel.result['status'], calls[0]]), names='temperature')
handle = lab.model.register_forward_pre_hook(hold)
panel.strengths = {{8746: 2.0}}
panel.run()
print(ipykernel.__version__, panel.comm.comm_id)
"""


def _execute(kc, code: str, timeout: float = 300) -> str:
    """Run code; return its stdout. ``timeout`` is a guard against a hung kernel, not a measure."""
    msg_id = kc.execute(code)
    out = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer from the kernel in {timeout} s (blocked?) to:\n{code}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)


def _json(kc, expr: str):
    return json.loads(_execute(kc, f"import json; print(json.dumps({expr}))"))


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_kernel_answers_while_generating(kernel, tmp_path):
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    python = KERNELS[kernel]
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make setup` (scripts/setup.sh builds both kernels)")
    spec_dir = tmp_path / "kernels" / kernel
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": kernel, "language": "python"}))
    km = KernelManager(kernel_name=kernel, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")]))
    km.start_kernel(cwd=str(ROOT))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        version, comm_id = _execute(kc, SETUP).split()
        assert version.startswith("6." if kernel == "ipykernel6" else "7.")
        first, second = HOLDS

        # 1. an execute_request is answered while the worker is held inside model call 8
        status, tokens, calls = _json(kc, f"until_held({first})")
        assert (status, calls) == ("running", first), f"generation ended before call {first}: {status}, {calls}"
        assert tokens == first - 1  # each model call so far produced one token, and each was streamed

        # 2. a widget message, as the browser sends when a setting changes, lands while the generation is held
        kc.session.send(kc.shell_channel.socket, "comm_msg", {
            "comm_id": comm_id, "data": {"method": "update", "state": {"temperature": 0.5}, "buffer_paths": []}})
        assert _json(kc, "landed") == [[0.5, "running", first]], "the widget message was not applied while generating"

        # 3. let it go: it streams on (more tokens in `result`) and the kernel answers again, at call 24
        _execute(kc, f"go[{first}].set()")
        status, later, calls = _json(kc, f"until_held({second})")
        assert (status, calls) == ("running", second), f"generation ended before call {second}: {status}, {calls}"
        assert later == second - 1 > tokens

        # 4. and it finishes normally, later than everything above
        _execute(kc, f"go[{second}].set()")
        final = _json(kc, "[panel.wait(300)['status'], panel.result['tokens'], calls[0]]")
        assert final[0] == "done" and final[1] >= later and final[2] >= second, final
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_kernel_pythons_differ_only_in_ipykernel():
    """The ipykernel 6 environment reuses .venv's packages (torch, saewidgets) through a .pth file."""
    import subprocess

    python = KERNELS["ipykernel6"]
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make setup`")
    code = "import ipykernel, torch, saewidgets; print(ipykernel.__version__, torch.__version__, saewidgets.__file__)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith("6.")
    assert out[1] == __import__("torch").__version__
    assert Path(out[2]).resolve().parent == (ROOT / "saewidgets").resolve()
