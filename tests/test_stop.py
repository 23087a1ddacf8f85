"""StopSignal: a job whose caller went away stops between its steps and inside a model run."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from voxserve.server.errors import Cancelled
from voxserve.server.inference import InferencePool
from voxserve.server.runtime import RuntimeOptions, create_session, run
from voxserve.server.stop import StopSignal, current_stop, running_under

SIZE = 512
LINKS = 400  # 400 MatMuls of 512 x 512: a run of about 1 s of CPU on one thread


def test_hooks_run_when_the_signal_is_set_during_their_block() -> None:
    stop = StopSignal()
    calls: list[str] = []
    with stop.on_set(lambda: calls.append("inside")):
        assert calls == []
        stop.set()
    assert calls == ["inside"] and stop.is_set()
    with stop.on_set(lambda: calls.append("already set")):
        pass
    assert calls == ["inside", "already set"]


def test_a_hook_is_gone_after_its_block() -> None:
    stop = StopSignal()
    calls: list[str] = []
    with stop.on_set(lambda: calls.append("late")):
        pass
    stop.set()
    assert calls == []


@pytest.fixture(scope="module")
def long_chain(tmp_path_factory: pytest.TempPathFactory) -> ort.InferenceSession:
    """A graph of LINKS MatMuls in a row, each a node between which ORT can stop."""
    weight = numpy_helper.from_array(
        (np.eye(SIZE, dtype=np.float32) * 0.999), name="w")
    nodes = [helper.make_node("MatMul", [f"x{i}", "w"], [f"x{i + 1}"]) for i in range(LINKS)]
    graph = helper.make_graph(
        nodes, "chain",
        [helper.make_tensor_value_info("x0", TensorProto.FLOAT, [SIZE, SIZE])],
        [helper.make_tensor_value_info(f"x{LINKS}", TensorProto.FLOAT, [SIZE, SIZE])],
        [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = Path(tmp_path_factory.mktemp("chain")) / "chain.onnx"
    onnx.save(model, path)
    return create_session(path, RuntimeOptions(device="cpu", intra_op_threads=1))


def _feeds() -> dict[str, np.ndarray]:
    return {"x0": np.ones((SIZE, SIZE), dtype=np.float32)}


def test_a_run_outside_the_pool_runs_to_its_end(long_chain: ort.InferenceSession) -> None:
    assert current_stop() is None
    (out,) = run(long_chain, None, _feeds())
    assert out.shape == (SIZE, SIZE)


def test_a_run_under_a_set_signal_is_cancelled_at_once(long_chain: ort.InferenceSession) -> None:
    stop = StopSignal()
    stop.set()
    with running_under(stop), pytest.raises(Cancelled):
        run(long_chain, None, _feeds())


async def test_cancelling_the_caller_aborts_the_model_run_in_progress(
    long_chain: ort.InferenceSession,
) -> None:
    pool = InferencePool(1)
    started = threading.Event()
    ended: list[str] = []

    def job() -> None:
        started.set()
        try:
            run(long_chain, None, _feeds())
        except Cancelled:
            ended.append("cancelled inside the run")
            raise
        ended.append("ran to its end")

    try:
        task = asyncio.ensure_future(pool.run(job))
        assert await asyncio.to_thread(started.wait, 10.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the awaiting task ends only once the job has: the pool no longer runs it
        assert ended == ["cancelled inside the run"]
        assert pool.running() == 0
    finally:
        pool.shutdown()
