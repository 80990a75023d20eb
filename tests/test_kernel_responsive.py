"""While the steering panel generates, the kernel keeps answering: on ipykernel 7 (.venv) and 6 (.venv-ipykernel6).

Generation runs in a worker thread, so the kernel's main thread is free for shell messages. A widget
message from the browser is a ``comm_msg`` on the shell channel, handled like an ``execute_request``:
this test sends both while a 160-token generation streams, and checks that each is answered promptly,
that the widget state change lands, and that generation was still running at the time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
KERNELS = {"ipykernel7": ROOT / ".venv" / "bin" / "python", "ipykernel6": ROOT / ".venv-ipykernel6" / "bin" / "python"}

SETUP = """
import ipykernel, saewidgets as sw
lab = sw.load()
panel = lab.steer({8746: 1.0}, prompt="Tell me about your day.", max_new_tokens=160)
panel.run(); panel.wait()               # warm up; the unsteered text is cached from now on
panel.strengths = {8746: 2.0}
panel.run()
print(ipykernel.__version__, panel.comm.comm_id)
"""


def _execute(kc, code: str, timeout: float = 300) -> tuple[str, float]:
    start = time.perf_counter()
    msg_id = kc.execute(code)
    out = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out), time.perf_counter() - start


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
        out, _ = _execute(kc, SETUP)
        version, comm_id = out.split()
        assert version.startswith("6." if kernel == "ipykernel6" else "7.")

        # A widget message, as the browser sends when a slider moves: it must land while generating.
        kc.session.send(kc.shell_channel.socket, "comm_msg", {
            "comm_id": comm_id, "data": {"method": "update", "state": {"temperature": 0.5}, "buffer_paths": []}})
        replies = []
        for _ in range(5):
            out, seconds = _execute(kc, "print(panel.result['status'], panel.result.get('tokens', 0), panel.temperature)")
            status, tokens, temperature = out.split()
            replies.append((status, int(tokens), float(temperature), seconds))
            time.sleep(0.2)
        running = [r for r in replies if r[0] == "running"]
        assert len(running) >= 3, f"generation ended too soon to test: {replies}"
        assert all(r[3] < 1.0 for r in running), f"the kernel was slow to answer while generating: {replies}"
        assert running[-1][1] > running[0][1], f"tokens did not stream between replies: {replies}"
        assert running[-1][2] == 0.5, "the widget message was not applied while generating"
        out, _ = _execute(kc, "print(panel.wait()['status'])")
        assert out.strip() == "done"
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
