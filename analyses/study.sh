#!/usr/bin/env bash
# The judge-free study behind analyses/FINDINGS.md, on the embedded model (CPU, no key).
# Four results stores:
#   stores/study-smollm2.zarr           four dimensions x 100 held-out questions: paper rule, FDR 0.05
#                                       and top-50, each against 5 random seeds, both directions,
#                                       gamma 2; and the paper rule measured on all four dimensions
#   stores/baselines-eval-smollm2.zarr  the baselines' sets (scored into stores/baselines.zarr
#                                       first) against the paper rule, the first 40 questions
#   stores/likert-smollm2.zarr          PVQ40 and ValueBench self-ratings under the paper rule and
#                                       its random control, 5 seeds (needs the ValueBench files: --source DIR
#                                       offline, else they are downloaded and checked)
#   stores/sweeps-smollm2.zarr          100 questions: gamma sweeps (conservation, self-enhancement),
#                                       neuron-count and threshold sweeps (conservation), each
#                                       against one random control
# Made on 2 cores: the 100-question grid took about 75 minutes as two processes (two
# dimensions each) writing one store, which is safe: each cell has its own lock.
set -euo pipefail
export NNVALUES_LOCK_TIMEOUT=3600  # a process needing a cell the other is writing waits for it
ALL=openness_to_change,self_transcendence,conservation,self_enhancement
common=(--judge none --limit 40 --quiet --directions positive,negative --gammas 2)
study_grid() {  # the study's cells for the dimensions in $1
    local study=(--judge none --limit 100 --quiet --directions positive,negative --gammas 2
                 --metrics contrast,fluency --results stores/study-smollm2.zarr --dimensions "$1")
    nnvalues evaluate "${study[@]}" --methods paper,fdr,top-k,random --seeds 5
    nnvalues evaluate "${study[@]}" --methods paper --measure-dimensions all
}
study_grid openness_to_change,self_transcendence & first=$!
study_grid conservation,self_enhancement & second=$!
wait $first
wait $second

scores=stores/baselines.zarr
for dim in ${ALL//,/ }; do
    for method in atp cgvst; do nnvalues baselines score --method $method --dimensions $dim --limit 20 --store $scores; done
    nnvalues baselines score --method meandiff --dimensions $dim --store $scores
done
for method in lpip qrnca; do nnvalues baselines score --method $method --dimensions conservation --limit 5 --store $scores; done
baselines=(--metrics contrast,fluency --results stores/baselines-eval-smollm2.zarr --scores $scores)
nnvalues evaluate "${common[@]}" "${baselines[@]}" --dimensions conservation --methods paper,lpip,qrnca,cgvst,meandiff,atp
nnvalues evaluate "${common[@]}" "${baselines[@]}" --dimensions openness_to_change,self_transcendence,self_enhancement \
    --methods paper,cgvst,meandiff,atp

nnvalues evaluate "${common[@]}" --metrics likert --results stores/likert-smollm2.zarr --dimensions $ALL \
    --methods paper,random --seeds 5

sweeps=(--judge none --metrics contrast,fluency --limit 100 --quiet --results stores/sweeps-smollm2.zarr
        --methods paper,random --seeds 1)
nnvalues evaluate "${sweeps[@]}" --dimensions conservation,self_enhancement --directions positive,negative \
    --gammas 0,1,2,4,8
nnvalues evaluate "${sweeps[@]}" --dimensions conservation --directions positive --neurons 10,50,200,all --gammas 2
nnvalues evaluate "${sweeps[@]}" --dimensions conservation --directions positive --thresholds 0.03,0.05,0.1 --gammas 2
python analyses/run_all.py
