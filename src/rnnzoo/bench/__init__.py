"""``rnnzoo bench``: train-step time and peak memory of every registered model, as ratios to ``torch.nn.LSTM``.

Usage::

    rnnzoo bench                                  # all models, sizes 1-3, 7 reps, as a user runs (default env)
    python -m rnnzoo.bench --sizes 1,2 --models "*lstm*" --reps 9 --out runs/bench-lstms
    python -m rnnzoo.bench --quick                # smoke run: tiny sizes, 2 reps
    python -m rnnzoo.bench --omp-wait passive     # labelled alternative: OMP_WAIT_POLICY=PASSIVE child process
    python -m rnnzoo.bench --scaling              # truncated BPTT over T = 100, 1,000, 10,000
    python -m rnnzoo.bench --streaming            # per-step latency, one token at a time, vs torch.nn.LSTMCell
    python -m rnnzoo.bench --compile --models lstm,gru

What is measured (the method, so that the numbers can be trusted):

* **A train step** is ``zero_grad(set_to_none=True)`` (not timed), then the timed part: forward on a fixed
  random input (``info.input_kind.example(B, T, I)``), ``output.sum().backward()``. Every model is built with
  ``rnnzoo.create(name, input_size=I, hidden_size=H, **options)`` (registry defaults, one layer, batch-first;
  ``--models 'gru[reset=before]'`` gives options, values in YAML) after ``torch.manual_seed(0)``. Only the
  registry entry's typed fields are read, so a model registered by a user is benched like a built-in one.
* **Time ratio**: the machine is shared and noisy, so times are only compared inside one run, interleaved:
  ``warmup`` untimed rounds, then ``reps`` rounds, each timing one step of every model (the order rotated by
  one each round so that no model always runs first). A model's ratio is the median over rounds of its step
  time divided by the ``torch.nn.LSTM(I, H, batch_first=True)`` step time *of the same round* (paired, so a
  burst of load on the machine hits both). The absolute medians (ms) are printed for reference only.
* **Environment**: what a user gets. By default the measurement runs in this process with torch's default
  number of threads (``--threads N`` sets it) and OpenMP's wait policy as the environment has it (unset for most
  users: libgomp's threads spin a while after each parallel region). ``--omp-wait passive`` measures in a child
  process with ``OMP_WAIT_POLICY=PASSIVE`` instead: steadier on a shared machine (the same fused kernel's paired
  ratio swung 0.5x-3.3x with spinning threads, 0.8x-1.2x passive), but it made torch.nn.LSTM itself about 3x
  slower at (32, 100, 64, 128) and flattered every ratio (issue 9), so it is a labelled option, and the report's
  header says which environment was used. The child imports rnnzoo afresh, so a model registered at run time is
  benched in the default environment only.
* **Peak memory**: one extra step per model under ``torch.profiler.profile(profile_memory=True)``; the
  profiler records every CPU allocator allocation (+bytes) and free (-bytes) with a timestamp. Their running
  sum, in time order, is the tensor memory the step holds at each moment (activations kept for backward,
  temporaries, gradients, the fused kernels' workspaces); its maximum is the peak. Parameters and the input
  exist before the step and are not counted. This measures tensors, not the process RSS (which the allocator's
  caching and the interpreter blur). The ratio divides by nn.LSTM's peak at the same size.
* **FLOPs and GFLOP/s** (issue 11): one extra train step per row, before the timed rounds, under
  ``torch.utils.flop_counter.FlopCounterMode``: the matrix products of forward and backward (elementwise work
  is not counted), with oneDNN disabled for that step so that torch.nn.LSTM's CPU kernel, otherwise one opaque
  oneDNN op the counter reads as 0, shows its ``addmm``/``mm`` (the count equals ``2 B T 4H (I+H)`` forward +
  as much for the weight gradients + ``2 B (T-1) 4H H`` for the state gradient, a test holds it there). Each
  row prints GFLOP per step, GFLOP/s (the count over its median step time) and the rate ratio (its GFLOP/s over
  nn.LSTM's). ``--no-flops`` skips it. See :mod:`~rnnzoo.bench.flops`.
* **Spatial models** (``InputKind.IMAGE_SEQUENCE``, e.g. the ConvLSTM) read ``(B, T, C, Y, X)``: they are benched
  with ``C = I/16`` input channels and ``H/16`` hidden channels on a ``4 x 4`` image (``--spatial-size``),
  so that a step's input and state hold exactly ``I`` and ``H`` numbers, as nn.LSTM(I, H)'s do (with a
  3x3 kernel that is ~9/16 of the LSTM's multiply-adds). Their ratios are informational: the targets below
  do not apply to them.
* **Peers**: when importable, ``torchrecurrent`` (OriginalLSTM, PeepholeLSTM, SCRN: the counterparts of the
  registry entries whose ``peers`` field names them) and ``sru`` (SRU, one layer) are benched as extra rows in the same
  interleaved loop; otherwise a note says why they were skipped. To bench them without touching the
  project's venv (they may pull another torch): ``python3 -m venv /tmp/peervenv``, ``/tmp/peervenv/bin/pip
  install -c constraints.txt torch==2.13.0``, ``/tmp/peervenv/bin/pip install --no-deps torchrecurrent sru
  ninja``, then ``PYTHONPATH=src /tmp/peervenv/bin/python -m rnnzoo.bench --models 'torchrecurrent.*,sru.*,...'``
  with the counterparts' names in place of ``...`` (``rnnzoo list`` shows each entry's peers; sru compiles a small
  CPU extension on import).
* **--compile**: ``torch.compile(model)``; the first train step (compilation of forward and backward) is
  timed once as the compile time, and the compiled model joins the interleaved loop as an extra row.
* **--scaling**: for each ``T`` in ``--lengths`` the whole sequence is trained by the library's truncated BPTT
  (:func:`rnnzoo.train.tbptt.windows`, ``k1 = k2 = --chunk``: the state carried and detached between windows, a
  backward per window); the time per time step (median over interleaved reps of the whole pass, divided by T)
  should be roughly constant in T and the peak memory (profiled over the whole pass) bounded by the truncation
  window.

* **--streaming** (issue 9 section 5): the per-step latency of streaming inference of every causal model, one
  step at a time with the state carried by the caller (``model.step``), ``torch.no_grad()``, eval mode, beside
  ``torch.nn.LSTMCell(I, H)``, at batch 1 and 32 (``--batches``); see :mod:`~rnnzoo.bench.streaming`.

Targets (informational marks next to each row, each said in words with the issue that set it; rnnzoo rows, not
spatial, eager only):

* issue 2: torch-fused configurations (``FastPath.TORCH``: lstm, gru, elman) at most 1.05x, every other cell
  at most 1.3x, at the larger sizes (64, 100, 256, 256) and (64, 100, 512, 512);
* issue 5: every LSTM, GRU and Elman variant (``info.family``) at most 1.15x at (64, 100, 256, 256) and at
  most 1.8x at (32, 100, 64, 128); the peak memory of every LSTM variant at most nn.LSTM's (at every size); at
  least 1.4x faster than torchrecurrent on every cell both libraries have (the entry's ``peers``), at every size;
* issue 8: a row ``name[options]`` with a regulariser among its options (``variational_dropout``,
  ``weight_drop``, ``zoneout``, ``layer_norm``) at most 1.15x the plain ``name`` row of the same run (paired;
  the plain row is added if missing; the ratio is in the note column and the json's ``vs_plain``);
* issue 11, from the registry's ``recurrence`` field, at (64, 100, 256, 256): an elementwise recurrence
  (``Recurrence.ELEMENTWISE``: SRU, IndRNN, minGRU, minLSTM) at most 0.5x nn.LSTM's train-step time (2x
  faster); a matrix recurrence (``Recurrence.MATRIX``: Mogrifier LSTM, RHN, dRNN, sLSTM) at least 0.75x
  nn.LSTM's GFLOP/s.

Results go to the screen and to ``bench.md`` and ``bench.json`` in the run directory (``--out RUN_DIR``, default
``runs/bench-<YYYYmmdd-HHMMSS>``), never into the checkout, with the environment and the machine (CPU model,
cores, torch version, threads); a directory that holds another run's results is refused.

The package, one question per module: :mod:`~rnnzoo.bench.cases` (what is benched), :mod:`~rnnzoo.bench.measure`
(interleaved timing, paired ratios, peak memory), :mod:`~rnnzoo.bench.flops` (FLOPs per train step),
:mod:`~rnnzoo.bench.targets` (which targets apply),
:mod:`~rnnzoo.bench.scaling` (length scaling under truncated BPTT), :mod:`~rnnzoo.bench.streaming` (per-step
latency of streaming inference), :mod:`~rnnzoo.bench.report` (tables, result files, machine, environment) and
:mod:`~rnnzoo.bench.cli` (the command line). From Python:

>>> from rnnzoo import bench
>>> gru = bench.rnnzoo_case("gru", options={"reset": "before"}, row="gru[reset=before]")
>>> rows = bench.bench_size([bench.baseline_case(), gru], bench.Size(2, 4, 8, 8), reps=2, warmup=0, memory=False)
>>> [(r.model, r.time_ratio > 0, len(r.samples_ms)) for r in rows]
[('torch.nn.LSTM', True, 2), ('gru[reset=before]', True, 2)]
"""

from rnnzoo.bench.cases import BASELINE, PRESETS, Case, Size, baseline_case, rnnzoo_case
from rnnzoo.bench.cli import main
from rnnzoo.bench.measure import Row, bench_size

__all__ = ["BASELINE", "PRESETS", "Case", "Row", "Size", "baseline_case", "bench_size", "main", "rnnzoo_case"]
