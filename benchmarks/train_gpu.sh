#!/usr/bin/env bash
# One chunk of TinctNet training on a GPU machine, resumable across machines.
#
#   benchmarks/train_gpu.sh RUN_MINUTES [STEPS] [PLANNED_MINUTES]
#
# Trains on every tar shard under .devdata/*/ (copies of ../shared/data/train shards), resuming from
# runs/gpu/ckpt-last.pt or, on a fresh machine, from .devdata/*/ckpt-compact.pt(.part*). Without STEPS it
# first measures the training speed for 80 steps and sets STEPS so that the cosine schedule spans
# PLANNED_MINUTES of training. Brings back (under $OUT) the log, the last contact sheet, fp16 weights and a
# compact checkpoint split in parts of 15 MB.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUTDIR=${OUT:-/tmp/tinct-out}
RUN=runs/gpu
RUN_MIN=${1:?RUN_MINUTES}
STEPS=${2:-}
PLANNED=${3:-17}
BS=${BS:-512}
COMMON=(--batch-size $BS --crop 128 --lr 3e-3 --warmup 500 --smooth 1.0 --rebalance 0.5 --device auto ${EXTRA:-})
mkdir -p "$RUN" "$OUTDIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUTDIR/env.txt"
python3 -c 'import torch, numpy, PIL; print("torch", torch.__version__, torch.cuda.is_available(), "numpy", numpy.__version__, "PIL", PIL.__version__)' | tee -a "$OUTDIR/env.txt" || exit 1
DATA=$(ls .devdata/*/*.tar)
echo "shards: $DATA" | tee -a "$OUTDIR/env.txt"
if [ ! -f "$RUN/ckpt-last.pt" ]; then
  PART=$(ls .devdata/*/ckpt-compact.pt.part* 2>/dev/null | head -1)
  if [ -n "$PART" ]; then cat "${PART%.part*}".part* > "$RUN/ckpt-last.pt" && echo "resuming from carried checkpoint"; fi
fi
if [ -z "$STEPS" ]; then
  python3 -m tinct.train $DATA --limit 3000 --out /tmp/probe --steps 80 --log-every 40 --eval-every 100000 \
    --ckpt-every 100000 --val-count 0 "${COMMON[@]}" || exit 1
  RATE=$(tail -2 /tmp/probe/log.jsonl | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["img_per_s"])')
  STEPS=$(python3 -c "print(int($RATE / $BS * $PLANNED * 60 * 0.97))")
  echo "measured $RATE img/s -> STEPS=$STEPS for $PLANNED min" | tee -a "$OUTDIR/env.txt"
fi
python3 -m tinct.train $DATA --out "$RUN" --steps "$STEPS" --max-minutes "$RUN_MIN" --resume auto \
  --ckpt-every 2000 --eval-every 2000 --log-every 200 --val-count 256 "${COMMON[@]}"
cp "$RUN/log.jsonl" "$OUTDIR/log.jsonl"
cp "$(ls "$RUN"/sheet-*.png | tail -1)" "$OUTDIR/sheet-last.png"
python3 -c "from tinct.train.loop import compact_checkpoint; compact_checkpoint('$RUN/ckpt-last.pt', '/tmp/ckpt-compact.pt')"
split -b 15000000 -d /tmp/ckpt-compact.pt "$OUTDIR/ckpt-compact.pt.part"
python3 -m tinct.train --export "$RUN/ckpt-last.pt" --weights-out "$OUTDIR/tinctnet-fp16.pt"
ls -la "$OUTDIR"
