#!/usr/bin/env bash
# The test cluster's end-to-end check (docs/cluster.md), each step timed:
#   1. prepare the host (box, Mesos runtime, wheels)     5. kill the instances
#   2. vagrant up                                         6. nothing left in the agents
#   3. every agent registered with the master             7. vagrant destroy -f
#   4. deploy examples/web-bridge.json through zk:// (2N-1 instances, so that each of the N
#      agents runs one) and curl each instance from the host
# Run as root from anywhere: bash scripts/cluster-smoke.sh
# MESOS_HYPER_AGENTS=N sets the agents (default 2); KEEP_CLUSTER=1 skips the destroy;
# SMOKE_RESTART=1 also halts the cluster after step 6, brings it up again (no provisioning:
# the units start at boot) and repeats steps 3 to 6 on it.
set -euo pipefail

cd "$(dirname "$0")/.."
AGENTS=${MESOS_HYPER_AGENTS:-2}
MASTER_IP=$(ruby -r ./scripts/cluster/settings -e 'puts MesosHyperCluster::MASTER_IP')
ZK=$(ruby -r ./scripts/cluster/settings -e 'puts MesosHyperCluster.zk_url')
PY=.venv/bin/python
LOG_DIR=$(mktemp -d /tmp/cluster-smoke.XXXXXX)
export VAGRANT_DEFAULT_PROVIDER=libvirt MESOS_HYPER_AGENTS=$AGENTS
say() { printf '==> cluster-smoke: %s\n' "$*" >&2; }
TIMES=()
STEP=start
started_all=$SECONDS

# timed NAME COMMAND...
timed() {
  STEP=$1
  shift
  local started=$SECONDS
  say "$STEP"
  "$@"
  TIMES+=("$(printf '%-44s %5d s' "$STEP" $((SECONDS - started)))")
}

report() {
  local status=$?
  set +e
  if [ "$status" -ne 0 ]; then
    say "FAILED at: $STEP (logs in $LOG_DIR)"
  fi
  if [ -n "${DEPLOY_PID:-}" ] && kill -0 "$DEPLOY_PID" 2>/dev/null; then
    kill -INT "$DEPLOY_PID"
    wait "$DEPLOY_PID"
  fi
  if [ "${KEEP_CLUSTER:-0}" != 1 ] && [ "$STEP" != "vagrant destroy" ]; then
    local started=$SECONDS
    vagrant destroy -f >"$LOG_DIR/destroy.log" 2>&1
    TIMES+=("$(printf '%-44s %5d s' "vagrant destroy (cleanup)" $((SECONDS - started)))")
  fi
  printf '\n%s\n' "cluster smoke, $AGENTS agent(s): $([ "$status" = 0 ] && echo passed || echo FAILED)"
  printf '  %s\n' "${TIMES[@]}"
  printf '  %-44s %5d s\n' "total" $((SECONDS - started_all))
  exit "$status"
}
trap report EXIT

agents_registered() {
  local deadline=$((SECONDS + 600)) active
  while :; do
    active=$(curl -fsS --max-time 10 "http://$MASTER_IP:5050/state" 2>/dev/null |
      "$PY" -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["slaves"] if s["active"]))' \
      2>/dev/null || echo 0)
    say "agents registered: $active of $AGENTS"
    [ "$active" -ge "$AGENTS" ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || { echo "only $active of $AGENTS agents registered" >&2; return 1; }
    sleep 10
  done
}

# an agent offers 1 CPU by default and an instance takes 0.5: 2N-1 instances cannot all fit
# on fewer than N agents, so every agent runs one
INSTANCES=$((2 * AGENTS - 1))

deploy_and_curl() {
  "$PY" -u -m mesos_hyper.cli deploy examples/web-bridge.json --master "$ZK" \
    --instances "$INSTANCES" --for 1800 >"$LOG_DIR/deploy.log" 2>&1 &
  DEPLOY_PID=$!
  local deadline=$((SECONDS + 1200)) running
  while :; do
    running=$(grep -cE ': TASK_RUNNING.* on [^ ]+ \(ports [0-9]+' "$LOG_DIR/deploy.log" || true)
    [ "$running" -ge "$INSTANCES" ] && break
    kill -0 "$DEPLOY_PID" 2>/dev/null || { cat "$LOG_DIR/deploy.log" >&2; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || { cat "$LOG_DIR/deploy.log" >&2; return 1; }
    sleep 5
  done
  cat "$LOG_DIR/deploy.log" >&2
  local task host port reply
  while read -r task host port; do
    reply=$(curl -fsS --max-time 20 --retry 5 --retry-delay 3 --retry-all-errors \
      "http://$host:$port/")
    say "curl http://$host:$port/ -> $reply"
    [ "$reply" = "hello from $task, reachable on $host:$port" ] ||
      { echo "unexpected answer from $task" >&2; return 1; }
  done < <(sed -nE 's/^([^ ]+): TASK_RUNNING.* on ([^ ]+) \(ports ([0-9]+).*/\1 \2 \3/p' \
    "$LOG_DIR/deploy.log")
  # deploy counts an instance only once all its checks passed: the app's HTTP check
  # (probed by deploy) and its COMMAND check (run by the agent)
  local task
  deadline=$((SECONDS + 600))
  for task in $(sed -nE 's/^([^ ]+): TASK_RUNNING.* on .*/\1/p' "$LOG_DIR/deploy.log"); do
    until grep -q "^$task: HTTP check of .* passed" "$LOG_DIR/deploy.log" &&
      grep -q "^$task: TASK_RUNNING healthy" "$LOG_DIR/deploy.log"; do
      [ "$SECONDS" -lt "$deadline" ] || { echo "$task never became healthy" >&2; return 1; }
      sleep 5
    done
    say "$task: healthy"
  done
  local hosts
  hosts=$(sed -nE 's/^[^ ]+: TASK_RUNNING.* on ([^ ]+) \(ports.*/\1/p' "$LOG_DIR/deploy.log" |
    sort -u | wc -l)
  [ "$hosts" -eq "$AGENTS" ] || { echo "instances ran on $hosts of $AGENTS agents" >&2; return 1; }
}

kill_instances() {
  kill -INT "$DEPLOY_PID"
  local status=0
  wait "$DEPLOY_PID" || status=$?
  DEPLOY_PID=
  cat "$LOG_DIR/deploy.log" >&2
  grep -q "killing $INSTANCES instance(s)" "$LOG_DIR/deploy.log" ||
    { echo "deploy did not kill the instances" >&2; return 1; }
  # deploy exits 0 only when every instance ran and was healthy
  [ "$status" = 0 ] || { echo "deploy exited $status" >&2; return 1; }
}

nothing_left() {
  local node left bad=0 deadline=$((SECONDS + 120))
  for i in $(seq 1 "$AGENTS"); do
    node=agent$i
    while :; do
      left=$(vagrant ssh "$node" -c "sudo bash /vagrant/scripts/cluster/leftovers.sh" \
        2>/dev/null | tr -d '\r')
      [ -z "$left" ] && break
      [ "$SECONDS" -lt "$deadline" ] || break
      sleep 5
    done
    if [ -n "$left" ]; then
      printf '%s left:\n%s\n' "$node" "$left" >&2
      bad=1
    else
      say "$node: nothing left"
    fi
  done
  return "$bad"
}

timed "prepare the host (scripts/cluster/prepare.sh)" bash scripts/cluster/prepare.sh
timed "vagrant up ($((AGENTS + 1)) nodes)" bash -c "vagrant up >'$LOG_DIR/up.log' 2>&1 ||
  { tail -40 '$LOG_DIR/up.log' >&2; exit 1; }"
grep -h "agent ready\|master ready\|done in" "$LOG_DIR/up.log" | sed 's/^/    /' >&2 || true
timed "all $AGENTS agents registered" agents_registered
timed "deploy web-bridge via zk://, curl each, healthy" deploy_and_curl
timed "kill the instances" kill_instances
timed "nothing left in the agents" nothing_left
if [ "${SMOKE_RESTART:-0}" = 1 ]; then
  timed "vagrant halt" bash -c "vagrant halt >'$LOG_DIR/halt.log' 2>&1 ||
    { tail -20 '$LOG_DIR/halt.log' >&2; exit 1; }"
  timed "vagrant up again (units start at boot)" bash -c "vagrant up --no-provision \
    >'$LOG_DIR/up-again.log' 2>&1 || { tail -40 '$LOG_DIR/up-again.log' >&2; exit 1; }"
  timed "all $AGENTS agents registered again" agents_registered
  timed "deploy again, curl each, healthy" deploy_and_curl
  timed "kill the instances again" kill_instances
  timed "nothing left in the agents again" nothing_left
fi
if [ "${KEEP_CLUSTER:-0}" != 1 ]; then
  timed "vagrant destroy" vagrant destroy -f
fi
