#!/usr/bin/env bash
# Train and evaluate every registry model on the shared data: the rows of docs/models.md.
# Run by hand from the repository root with the virtual environment active:
#     bash benchmarks/train_zoo.sh [RUNS_DIR] [PART]   (default RUNS_DIR: runs/zoo; PART: all, 68 or kaggle)
# The two parts are independent: on a 2-core machine they can run side by side.
# Short schedules on purpose (a 2-core CPU); each run's summary.json and eval.txt hold its numbers.
set -euo pipefail
RUNS=${1:-runs/zoo}
PART=${2:-all}
DATA=../shared/data
U=$DATA/udacity-68
mkdir -p "$RUNS"
common=(--workers 1 --no-progress --seed 0)

run() {  # run NAME EVAL_SPEC train-args...
  local name=$1 eval_spec=$2; shift 2
  if [ ! -f "$RUNS/$name/model.pt" ]; then
    facepoints train "$@" --out "$RUNS/$name" "${common[@]}" > "$RUNS/$name.train.log" 2>&1
  fi
  facepoints evaluate --model "$RUNS/$name/model.pt" --data "$eval_spec" --out "$RUNS/$name/eval" --no-progress > "$RUNS/$name/eval.txt"
}

# --- 68 points: Udacity training (10 % of people held out for validation), scored on Udacity test with GT boxes
if [ "$PART" != kaggle ]; then
run mean_shape68 "$U/test" --model mean_shape --data "$U/training" --epochs 1
run face_cnn "$U/test" --model face_cnn --data "$U/training" --epochs 4 --lr 1e-3
run resnet18 "$U/test" --model resnet18 --data "$U/training" --epochs 3 --lr 1e-3 --batch-size 32
run alexnet_fkp "$U/test" --model alexnet_fkp --data "$U/training" --crop seed --epochs 1 --lr 1e-4 --batch-size 32 --augment none
run nosetip_cnn "$U/test" --model nosetip_cnn --data "$U/training" --layout nosetip --epochs 4 --lr 1e-3
fi
[ "$PART" = 68 ] && exit 0

# --- Kaggle layout: Udacity faces converted to the competition format (with Kaggle-like missing points)
K=$RUNS/kaggle-data
[ -f "$K/train/training.csv" ] || facepoints data to-kaggle "$U/training" --out "$K/train" --missingness
[ -f "$K/test/test.csv" ] || facepoints data to-kaggle "$U/test" --out "$K/test" --split test
[ -f "$K/testlab/training.csv" ] || facepoints data to-kaggle "$U/test" --out "$K/testlab"
KT=$K/train/training.csv
KE=$K/testlab/training.csv
kaggle_run() {  # kaggle_run NAME train-args...
  local name=$1; shift
  run "$name" "$KE" "$@"
  facepoints kaggle submit --model "$RUNS/$name/model.pt" --test "$K/test/test.csv" --lookup "$K/test/IdLookupTable.csv" --out "$RUNS/$name/submission.csv" > /dev/null
  facepoints kaggle score --submission "$RUNS/$name/submission.csv" --solution "$K/test/solution.csv" >> "$RUNS/$name/eval.txt"
}
kaggle_run mean_shape15 --model mean_shape --data "$KT" --epochs 1 --augment none
kaggle_run mlp_baseline --model mlp_baseline --data "$KT" --epochs 8 --lr 1e-3 --loss mse --augment none
kaggle_run kaggle_cnn --model kaggle_cnn --data "$KT" --epochs 8 --lr 1e-3 --loss mse --augment flip
kaggle_run naimishnet --model naimishnet --data "$KT" --epochs 6 --lr 1e-3 --loss mse --augment flip
kaggle_run kaggle_cnn_bn --model kaggle_cnn_bn --data "$KT" --epochs 5 --lr 1e-3 --loss mse --augment flip
# the two-model write-up: 15 points on complete rows, 4 points on every row, merged
run two_model_15 "$KE" --model kaggle_cnn_bn --data "$KT" --complete-only --epochs 5 --lr 1e-3 --loss mse --augment flip
run two_model_4 "$KE" --model kaggle_cnn_bn --data "$KT" --layout kaggle4 --epochs 5 --lr 1e-3 --loss mse --augment flip
facepoints kaggle submit --model "$RUNS/two_model_15/model.pt" "$RUNS/two_model_4/model.pt" \
  --test "$K/test/test.csv" --lookup "$K/test/IdLookupTable.csv" --out "$RUNS/two_model_submission.csv" > /dev/null
facepoints kaggle score --submission "$RUNS/two_model_submission.csv" --solution "$K/test/solution.csv" > "$RUNS/two_model.txt"
echo "done: $RUNS"
