#!/bin/bash
set -e
cd /work/main
export OMP_NUM_THREADS=2
W=.venv/bin/worldclass
L=/tmp/lb
[ -d $L/SEN12MS ] || $W synth sen12ms $L/SEN12MS --scenes 6 --patches 8 --seed 1
[ -d $L/DFC2020 ] || $W synth dfc2020 $L/DFC2020 --validation 60 --test 40 --seed 2
for t in sscl simsiam moco; do
  [ -f $L/runs/$t/checkpoints/best.ckpt ] && [ -f $L/runs/$t/done ] || { $W train configs/sscl-sen12ms.yaml --set task=$t --set data.root=$L/SEN12MS --set trainer.out=$L/runs/$t --set trainer.progress=false --overwrite && touch $L/runs/$t/done; }
done
$W experiment label-budget configs/dfc2020-unet.yaml --set data.root=$L/DFC2020 --set trainer.out=$L/budget --set trainer.progress=false \
  --budgets 12 --init random --init sscl=$L/runs/sscl/checkpoints/best.ckpt --init simsiam=$L/runs/simsiam/checkpoints/best.ckpt \
  --init moco=$L/runs/moco/checkpoints/best.ckpt --modes finetune --seeds 0,1,2
echo ALLDONE
