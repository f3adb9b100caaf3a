#!/bin/bash
# Dead-unit diagnosis of one model over a large data set, split across a Slurm job array: task i of N handles a
# contiguous slice of whole batches (probe dead --shard i/N) and writes its counters to parts/$i; a dependent job
# merges them into exactly what one process would give (probe merge).
#
#   sbatch --array=0-7 examples/cluster/slurm-dead.sh            # 8 shards
#   sbatch --dependency=afterok:<array job id> --wrap "probe merge parts/* --out merged"
#
#SBATCH --job-name=probe-dead
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=01:00:00
set -euo pipefail
N=${SLURM_ARRAY_TASK_COUNT:?run as a job array}
I=${SLURM_ARRAY_TASK_ID:?run as a job array}
probe dead \
  --model torchvision:resnet18 --weights resnet18.pt \
  --data "images:/data/imagenet/val?preset=imagenet" \
  --batch-size 64 \
  --shard "$I/$N" --out "parts/$I"
