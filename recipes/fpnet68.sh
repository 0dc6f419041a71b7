#!/usr/bin/env bash
# Recipe of the default landmark model, fpnet68 v15 (issue 23): 128 x 128 colour face crops, width 1.5,
# the 300-W faces shown three times per epoch, 160 epochs of cosine schedule, trained by two
# single-thread processes under torchrun (DistributedDataParallel over gloo, 16 faces per process and
# step, 32 per optimizer step). Data: ../shared/data (Udacity training + 300-W LFPW and HELEN training
# sets; 5 % held out by identity for model selection; no 300-W test image and no AFW).
#
#   bash recipes/fpnet68.sh                         # the full run (about 6 h on an idle 2-core CPU)
#   EPOCHS=1 OUT=runs/try bash recipes/fpnet68.sh   # one epoch, to check that it starts and logs
#   torchrun --nproc_per_node=2 -m facepoints train --resume runs/fpnet-v15   # continue after a stop
#
# Then bundle and export (int8 calibrated on training faces only):
#   cp runs/fpnet-v15/model.pt src/facepoints/resources/fpnet68.pt
#   facepoints export --model src/facepoints/resources/fpnet68.pt --dynamic-batch \
#       --int8 ../shared/data/300w/helen_train ../shared/data/udacity-68/training
#
# Each epoch appends a line to the log (train and validation loss, validation NME with the point
# shift, RMSE, learning rate, seconds) and to OUT/metrics.csv; OUT/curves.png plots them.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
EPOCHS=${EPOCHS:-160}
OUT=${OUT:-runs/fpnet-v15}
PROCS=${PROCS:-2}
exec torchrun --nproc_per_node="$PROCS" -m facepoints train \
  --model fpnet --model-args '{"width": 1.5}' --rgb --input-size 128 \
  --data "$DATA/udacity-68/training" "$DATA/300w/lfpw_train" "$DATA/300w/helen_train" \
  --val-split 0.05 --epochs "$EPOCHS" --batch-size 16 --lr 2e-3 --loss l1 --augment strong --schedule cosine \
  --closed-eyes 4 --oversample 300w/=3 --patience 0 --workers 1 --no-progress --out "$OUT"
