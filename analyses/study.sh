#!/usr/bin/env bash
# The judge-free study behind analyses/FINDINGS.md, on the embedded model (CPU, no key).
# Two results stores: the four-dimension grid with its specificity run, and the conservation
# sweeps with the baselines (scored first with `nnvalues baselines score`, stores/baselines.zarr).
set -euo pipefail
ALL=openness_to_change,self_transcendence,conservation,self_enhancement
common=(--judge none --metrics contrast,fluency --limit 20 --quiet)
study=(--results stores/study-smollm2.zarr)
sweeps=(--results stores/sweeps-smollm2.zarr --dimensions conservation)
nnvalues evaluate "${common[@]}" "${study[@]}" --dimensions $ALL --methods paper,fdr,top-k,random \
    --seeds 3 --directions positive,negative --gammas 2
nnvalues evaluate "${common[@]}" "${study[@]}" --dimensions $ALL --methods paper \
    --directions positive,negative --measure-dimensions all --gammas 2
nnvalues evaluate "${common[@]}" "${sweeps[@]}" --methods paper,lpip,qrnca,cgvst,meandiff,atp \
    --directions positive,negative --gammas 2
nnvalues evaluate "${common[@]}" "${sweeps[@]}" --methods paper,random --seeds 1 --directions positive \
    --gammas 0,1,2,4,8
nnvalues evaluate "${common[@]}" "${sweeps[@]}" --methods paper,random --seeds 1 --directions positive \
    --neurons 10,50,200,all --gammas 2
nnvalues evaluate "${common[@]}" "${sweeps[@]}" --methods paper,random --seeds 1 --directions positive \
    --thresholds 0.03,0.05,0.1 --gammas 2
python analyses/run_all.py
