#!/usr/bin/env bash
# Recipe of the default landmark model, fpnet68 v15 (issue 23), in two stages, each trained by two
# single-thread processes under torchrun (DistributedDataParallel over gloo, 16 faces per process and
# step, 32 per optimizer step) on colour face crops at width 1.5. Data: ../shared/data (Udacity
# training + 300-W LFPW and HELEN training sets; 5 % held out by identity for model selection, the same
# people in both stages; no 300-W test image and no AFW).
#
#   1. v14: 70 epochs from scratch at 112 x 112, the 300-W faces twice per epoch, lr 2e-3 cosine
#      (about 90 min on an idle 2-core CPU);
#   2. v15: 24 epochs at 128 x 128 starting from stage 1's weights (--init), the 300-W faces three
#      times per epoch, lr 6e-4 cosine (about 60-100 min: 150-250 s per epoch).
#
#   bash recipes/fpnet68.sh                          # both stages (a finished stage is skipped)
#   STAGE=2 INIT=src/facepoints/resources/fpnet68.pt bash recipes/fpnet68.sh   # stage 2 from given weights
#   EPOCHS=1 OUT=runs/try bash recipes/fpnet68.sh    # one epoch of each stage, to check that it starts
#   torchrun --nproc_per_node=2 -m facepoints train --resume runs/fpnet-v15   # continue a stage after a stop
#
# Then bundle and export (int8 calibrated on training faces only):
#   cp runs/fpnet-v15/model.pt src/facepoints/resources/fpnet68.pt
#   facepoints export --model src/facepoints/resources/fpnet68.pt --dynamic-batch \
#       --int8 ../shared/data/300w/helen_train ../shared/data/udacity-68/training
#
# Each epoch appends a line to the log (train and validation loss, validation NME with the point
# shift, RMSE, learning rate, seconds) and to the run's metrics.csv; curves.png plots them.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs}
PROCS=${PROCS:-2}
STAGE=${STAGE:-1}
train() {  # train RUN_DIR EPOCHS args...: one stage, unless its model.pt exists
  local run=$1 epochs=$2; shift 2
  [ -f "$run/model.pt" ] && return 0
  torchrun --nproc_per_node="$PROCS" -m facepoints train \
    --model fpnet --model-args '{"width": 1.5}' --rgb \
    --data "$DATA/udacity-68/training" "$DATA/300w/lfpw_train" "$DATA/300w/helen_train" \
    --val-split 0.05 --epochs "$epochs" --batch-size 16 --loss l1 --augment strong --schedule cosine \
    --closed-eyes 4 --patience 0 --workers 1 --no-progress --out "$run" "$@"
}
if [ "$STAGE" = 1 ]; then
  train "$OUT/fpnet-v14" "${EPOCHS:-70}" --input-size 112 --lr 2e-3 --oversample 300w/=2
fi
train "$OUT/fpnet-v15" "${EPOCHS:-24}" --input-size 128 --lr 6e-4 --oversample 300w/=3 \
  --init "${INIT:-$OUT/fpnet-v14/model.pt}"
