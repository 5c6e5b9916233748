#!/usr/bin/env bash
# rnnzoo on a GPU, in one run of about 8 minutes (docs/gpu.md): the device-parametrized tests on CUDA
# (`-k cuda`: the contract suites, fused path == reference loop, export), then `rnnzoo bench --device cuda`
# beside cuDNN's torch.nn.LSTM. Installs nothing: it needs a Python whose torch sees a GPU and that has
# rnnzoo's test dependencies (PYTHON=..., default .venv/bin/python if present, else python3).
# Everything goes under $OUT (default ./gpu-check-out): env.txt, tests-*.log/.xml, bench/bench.md, summary.md.
# Exit status: 0 when every step passed, 1 when a step failed or ran out of time (summary.md says which),
# 2 when there is no CUDA device. DEVICE=cpu (with small *_S limits) dry-runs the script itself without a GPU.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-./gpu-check-out}"
mkdir -p "$OUT"
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
SUMMARY="$OUT/summary.md"
# time limits (seconds) per step: tests 240 + 150, bench 150, in all about 8 minutes with the start-up
TESTS_S="${TESTS_S:-240}"
EXPORT_S="${EXPORT_S:-150}"
BENCH_S="${BENCH_S:-150}"
BENCH_MODELS="${BENCH_MODELS:-lstm,gru,elman,peephole_lstm,lstm1997,cifg_lstm,indrnn,sru,mingru,scrn,rhn}"
BENCH_SIZES="${BENCH_SIZES:-1,2,3}"
DEVICE="${DEVICE:-cuda}"

{
    echo "# rnnzoo GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- source: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty')"
} > "$SUMMARY"

DEVICE="$DEVICE" "$PYTHON" - > "$OUT/env.txt" 2>&1 <<'EOF'
import os
import platform
import sys

import torch

print("python", sys.version.split()[0], platform.platform())
print("torch", torch.__version__, "CUDA build", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
print("cuda available", torch.cuda.is_available())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"device {i}: {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs")
for mod in ("pytest", "onnxruntime", "onnx", "onnxscript"):
    try:
        m = __import__(mod)
        print(mod, getattr(m, "__version__", "?"))
    except ImportError as exc:
        print(mod, "MISSING:", exc)
sys.exit(0 if torch.cuda.is_available() or os.environ["DEVICE"] == "cpu" else 2)
EOF
status=$?
nvidia-smi >> "$OUT/env.txt" 2>&1 || echo "nvidia-smi: not available" >> "$OUT/env.txt"
sed 's/^/    /' "$OUT/env.txt" | head -12 >> "$SUMMARY"
if [ "$status" -ne 0 ]; then
    echo "- no CUDA device (or no torch) for $PYTHON: nothing run (exit $status)" | tee -a "$SUMMARY"
    exit 2
fi

failed=0
run_step() {  # name, seconds, command...: run with a time limit, record the outcome in the summary
    local name="$1" limit="$2"
    shift 2
    local t0=$SECONDS
    timeout --signal=INT --kill-after=20 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    local took=$((SECONDS - t0))
    local tail_line
    tail_line="$(grep -E '(passed|failed|error|skipped|no tests ran)' "$OUT/$name.log" | tail -1)"
    case "$rc" in
        0) echo "- $name: ok in ${took} s. ${tail_line}" >> "$SUMMARY" ;;
        124|130|137) echo "- $name: STOPPED at its ${limit} s limit. ${tail_line}" >> "$SUMMARY"; failed=1 ;;
        *) echo "- $name: FAILED (exit $rc) in ${took} s. ${tail_line}" >> "$SUMMARY"; failed=1 ;;
    esac
}

PYTEST=("$PYTHON" -m pytest -q -p no:cacheprovider -m "not slow" -k "$DEVICE" -rfEs --durations=15)
run_step tests-contract-fused "$TESTS_S" "${PYTEST[@]}" --junitxml="$OUT/tests-contract-fused.xml" \
    tests/core/test_contract.py tests/core/test_contract_layer_norm.py \
    tests/fused/test_fused_vs_loop.py tests/fused/test_layer_norm_fused.py tests/fused/test_fused_gradcheck.py
run_step tests-export "$EXPORT_S" "${PYTEST[@]}" --junitxml="$OUT/tests-export.xml" tests/export/test_export_registry.py
run_step bench "$BENCH_S" "$PYTHON" -m rnnzoo bench --device "$DEVICE" --models "$BENCH_MODELS" --sizes "$BENCH_SIZES" \
    --reps 5 --warmup 2 --no-peers --out "$OUT/bench"

if [ -f "$OUT/bench/bench.md" ]; then
    { echo; echo "## rnnzoo bench --device $DEVICE (ratios to torch.nn.LSTM: cuDNN's kernel on CUDA)"; echo;
      grep -E '^\|' "$OUT/bench/bench.md" | head -60; } >> "$SUMMARY"
fi
cat "$SUMMARY"
exit "$failed"
