#!/bin/bash
# One call on a lent GPU (docs/experiments.md, "The lent GPU"): unpack the data, measure each trainer's steps
# a second with all of them sharing the GPU, train every pending recipe from scratch at the step count that
# fits the time left (its learning-rate schedule runs to the end), choose each run's step on its validation
# hold-out, and pack the chosen weights, logs and samples into $OUT (at most 8 files, 16 MiB each).
#   usage: bash training/lent_gpu.sh TOTAL_SECONDS      (the call's own limit; everything ends inside it)
# Data travels packed (training.data.pack) in the git-ignored gpu/ folder, built here first:
#   python -m training.data.pack pack gpu/emoji.xz data/emoji-64/noto data/emoji-64/twemoji \
#       data/emoji-64/fluent-flat data/emoji-64/manifest.json data/multimodal-64
#   python -m training.data.pack pack gpu/fonts.xz data/fonts-64
#   cp -r data/vendor-classifier gpu/      # the judge select_step scores with
# BATCH=8 bash training/lent_gpu.sh 570 trains the batch-1 recipes (MUNIT, UNIT, U-GAT-IT) at batch 8: a step
# there costs its launches, not its arithmetic (docs/experiments.md, "What the lent GPU gave").
TOTAL=${1:-560}
T0=$(date +%s)
export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
OUTDIR=${OUT:-/tmp/gpu-out}; mkdir -p "$OUTDIR" runs
PY=python3
since() { echo $(( $(date +%s) - T0 )); }
echo "== machine"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
$PY -c "import torch, accelerate, safetensors; print('torch', torch.__version__, 'accelerate', accelerate.__version__, 'cuda', torch.cuda.is_available())"
$PY -m training.data.pack unpack gpu/emoji.xz & $PY -m training.data.pack unpack gpu/fonts.xz & wait
mkdir -p data && cp -r gpu/vendor-classifier data/ 2>/dev/null; ls data
COMMON="--threads 2 --workers 2"
ONE=${BATCH:+--batch-size $BATCH}   # for the recipes of batch 1 only
# name | trainer | recipe and settings | recipe steps
JOBS=(
 "munit-drawing2emoji-v2|munit|--recipe training/recipes/munit-drawing2emoji-v2.toml $ONE|10000"
 "unit-noto2twemoji-v2|unit|--recipe training/recipes/unit-noto2twemoji-v2.toml $ONE|14000"
 "ugatit-noto2twemoji-v2|ugatit|--recipe training/recipes/ugatit-noto2twemoji-v2.toml $ONE|10000"
 "funit-fonts-k5|funit|--recipe training/recipes/funit-fonts-v2.toml --set train_k=5|6000"
 "coco-funit-fonts|funit|--recipe training/recipes/funit-fonts-v2.toml --set train_k=5 --set style_encoder=coco --set name=coco-funit-fonts|6000"
)
echo "== calibration, all side by side ($(since) s)"
for job in "${JOBS[@]}"; do IFS='|' read name trainer settings steps <<< "$job"
  timeout 120 $PY -m training.$trainer $settings $COMMON --out runs/cal-$name --steps 100000 --log-every ${CAL_LOG:-10} --save-every 1000000 \
      --sample-every 1000000 --max-minutes 0.6 > runs/cal-$name.log 2>&1 &
done; wait
declare -A RATE
for job in "${JOBS[@]}"; do IFS='|' read name trainer settings steps <<< "$job"
  RATE[$name]=$($PY - "runs/cal-$name/log.jsonl" <<'PYEOF'
import json, sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1])]
    a, b = rows[1], rows[-1]          # skip the first log: it holds the CUDA warm-up
    print(round((b["step"] - a["step"]) / (b["seconds"] - a["seconds"]), 2))
except Exception:
    print(0)
PYEOF
)
  $PY -c "exit(float('${RATE[$name]}') > 0)" && { RATE[$name]=0; tail -c 1500 runs/cal-$name.log; }
  echo "$name: ${RATE[$name]} steps/s side by side"
done
TRAIN_END=$(( TOTAL - 130 ))   # leave time for step selection and packing
echo "== training ($(since) s), ends by ${TRAIN_END} s"
for job in "${JOBS[@]}"; do IFS='|' read name trainer settings steps <<< "$job"
  rate=${RATE[$name]}; [ "$rate" = 0 ] && continue
  n=$($PY -c "r=$rate; left=$TRAIN_END-$(since)-25; print(max(${MIN_STEPS:-200}, int(min($steps, r*left*0.92)//100*100)))")
  snap=$(( n / 8 / 50 * 50 )); [ $snap -lt 50 ] && snap=50; [ $snap -gt $n ] && snap=$n
  echo "$name: $n steps (recipe: $steps), snapshot every $snap"
  args="$settings $COMMON --out runs/$name --steps $n --snapshot-every $snap --save-every $n --sample-every $(( n / 4 )) --max-minutes $($PY -c "print(round(($TRAIN_END-$(since))/60, 2))")"
  echo "python -m training.$trainer $args" > runs/$name.command
  # a hard bound too: a hung worker must not keep the call from packing what the others made
  timeout $(( TRAIN_END + 60 - $(since) )) $PY -m training.$trainer $args > runs/$name.log 2>&1 &
done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait
echo "== selection ($(since) s)"
for job in "${JOBS[@]}"; do IFS='|' read name trainer settings steps <<< "$job"
  [ -f runs/$name/export/config.json ] || { echo "$name: no export"; tail -c 2000 runs/$name.log; continue; }
  timeout $(( TOTAL - 25 - $(since) > 10 ? TOTAL - 25 - $(since) : 10 )) $PY -m training.select_step --run runs/$name --threads 4 > runs/$name-select.log 2>&1 &
done; wait
echo "== packing ($(since) s)"
for job in "${JOBS[@]}"; do IFS='|' read name trainer settings steps <<< "$job"
  [ -d runs/$name ] || continue
  cat runs/$name-select.log 2>/dev/null | tr '\r' '\n' | grep -v "snapshots:" | tail -14
  model=runs/$name/selected; [ -f $model/model.safetensors ] || model=runs/$name/export
  [ -f $model/config.json ] || continue
  tar cf $OUTDIR/$name.tar --transform "s|^${model#runs/}|$name/model|" -C runs ${model#runs/}
done
tar cf $OUTDIR/extras.tar runs/*.log runs/*.command runs/*/log.jsonl runs/*/selection.json runs/*/validation.json \
    $(for d in runs/*/samples; do case $d in *cal-*) ;; *) ls -d $d/* | tail -2;; esac; done) 2>/dev/null
ls -la $OUTDIR; echo "done at $(since) s"
