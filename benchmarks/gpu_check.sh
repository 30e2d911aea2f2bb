#!/usr/bin/env bash
# One prepared GPU check (run on a CUDA machine from the repository root):
# single-GPU training of the default experiment, NCCL under torchrun with one process,
# and `aiforge evaluate` reproducing the CUDA run. Results go to ${OUT:-/tmp/gpu_check}.
set -uo pipefail
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" AIFORGE_TRACKING=false PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
nvidia-smi -L
$py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"

echo "== 1. default experiment on one GPU"
rm -rf /tmp/g1 /tmp/g2
start=$(date +%s)
$py -m aiforge run --device cuda --results-dir /tmp/g1 --no-progress 2>&1 | grep -E "parameters on|Epoch 1/|Final|Run finished|error"
echo "wall $(( $(date +%s) - start )) s"
run1=$(ls -d /tmp/g1/*/*/)
$py -m aiforge evaluate "$run1" --json > "$out/evaluate.json" && grep -E '"matches_run_final"' "$out/evaluate.json"
cp "$run1/final_results.json" "$out/final_results_gpu.json"

echo "== 2. NCCL: torchrun --nproc_per_node=1 on the GPU"
$py -m torch.distributed.run --standalone --nproc_per_node=1 -m aiforge run --device cuda \
    --results-dir /tmp/g2 --no-progress -o training_config.epochs=3 --debug 2>&1 \
    | grep -E "Distributed|parameters on|Epoch 3/|Final|Run finished|rror|NCCL|File \"/" | head -40
run2=$(ls -d /tmp/g2/*/*/)
$py -m aiforge evaluate "$run2" --json > "$out/evaluate_nccl.json" && grep -E '"matches_run_final"' "$out/evaluate_nccl.json"
$py - <<'PY'
import torch.distributed as dist
print("nccl available:", dist.is_nccl_available())
PY

echo "== 3. mixed precision and compile on the GPU (training_config.precision / compile)"
for options in "training_config.precision=bf16-mixed" "training_config.precision=16-mixed" \
               "training_config.compile=true"; do
    rm -rf /tmp/g3
    $py -m aiforge run --device cuda --results-dir /tmp/g3 --no-progress -o training_config.epochs=3 \
        -o "$options" 2>&1 | grep -E "Epoch 3/|Final|rror" | sed "s|^|$options: |"
done

echo "== 4. epoch time against a hand-written loop and Lightning, on the GPU (digits, 20 epochs)"
# "": the per-item path with AIForge's CUDA defaults (up to 4 workers, pinned); --num-workers 0: without
for flags in "" "--num-workers 0" "--precision bf16-mixed" "--precision 16-mixed" "--compile"; do
    $py benchmarks/training_overhead.py --device cuda --workloads digits --repeats 3 $flags \
        --json "$out/overhead${flags// /_}.json" 2>&1 | tail -4
done
