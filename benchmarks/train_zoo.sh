#!/usr/bin/env bash
# Train and evaluate every registry model on the shared data: the rows of docs/models.md.
#     bash benchmarks/train_zoo.sh [RUNS_DIR] [PART]   (default RUNS_DIR: runs/zoo; PART: all, 68 or kaggle)
# The recipes, their settings and where each comes from are in recipes/seeds.sh, which replaces the short
# schedules this script once had (see its history): each run now trains until its validation score stops
# improving. The two parts are independent: on a 2-core machine they can run side by side.
# `python benchmarks/zoo_table.py RUNS_DIR` prints the table.
set -euo pipefail
RUNS=${1:-runs/zoo}
PART=${2:-all}
PART68=(mean_shape68 face_cnn resnet18 alexnet_fkp nosetip_cnn)
KAGGLE=(mean_shape15 mlp_baseline kaggle_cnn naimishnet kaggle_cnn_bn two_model)
case $PART in
  68) names=("${PART68[@]}") ;;
  kaggle) names=("${KAGGLE[@]}") ;;
  all) names=("${PART68[@]}" "${KAGGLE[@]}") ;;
  *) echo "train_zoo.sh: PART is all, 68 or kaggle, not $PART" >&2; exit 2 ;;
esac
exec bash "$(dirname "$0")/../recipes/seeds.sh" "$RUNS" "${names[@]}"
