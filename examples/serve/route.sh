#!/bin/sh
# Stand-in for a real traffic router: records the new version's weight.
# $1 weight (0-100), $2 release, $3 stage.
set -eu
mkdir -p router
echo "$1" > router/weight.tmp && mv router/weight.tmp router/weight
echo "$1 $2 $3" >> router/history.log
echo "routed $1 % of traffic to $2 ($3)"
