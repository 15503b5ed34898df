#!/usr/bin/env bash
# Checks everything under deploy/ with each ecosystem's own tool:
#   promtool  — alert rules syntax + unit tests, the chart's PrometheusRule, dashboard PromQL
#   systemd   — systemd-analyze verify, and security exposure <= 2.0
#   helm      — lint and template (helm built from its Go module, cached)
#   kube-apiserver — the chart dry-run, installed, upgraded and uninstalled on a real API server
#               (built from its Go module, cached; see .ci/chart-on-apiserver.sh). ROTATORD_SKIP_APISERVER=1
#               skips it for a quick local run; .ci/run never does.
#   jq        — dashboard.json structure
# Works on a fresh Debian machine as root: installs what is missing (one apt-get update).
# Exits non-zero on the first failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mon=deploy/monitoring
chart=deploy/helm/rotatord
unit=deploy/systemd/rotatord.service
helm_version=v3.22.0
cache=${XDG_CACHE_HOME:-$HOME/.cache}/rotatord-ci
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

step "tools"
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v jq >/dev/null || missing+=(jq)
[ -x /bin/kill ] || missing+=(procps) # ExecReload=/bin/kill must exist for verify
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || fail "missing packages ${missing[*]}; run as root to install them"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || fail "go is required (to build helm and rotatord)"
helm="$cache/bin/helm"
if ! "$helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "${helm_version%.0}\|$helm_version"; then
	echo "building helm $helm_version from its Go module (first time only)..."
	start=$(date +%s)
	GOBIN="$cache/bin" go install "helm.sh/helm/v3/cmd/helm@$helm_version"
	echo "helm built in $(($(date +%s) - start)) s"
fi
promtool --version 2>&1 | head -1
systemd-analyze --version | head -1
"$helm" version --short
jq --version

step "promtool: alert rules"
promtool check rules "$mon/alerts.yaml"
promtool test rules "$mon/alerts_test.yaml"

step "promtool: the chart's copies"
cmp "$mon/alerts.yaml" "$chart/files/alerts.yaml" || fail "$chart/files/alerts.yaml differs from $mon/alerts.yaml"
cmp "$mon/dashboard.json" "$chart/files/dashboard.json" || fail "$chart/files/dashboard.json differs from $mon/dashboard.json"
# The rules as the PrometheusRule renders them must pass the same unit tests.
mkdir "$tmp/rendered"
"$helm" template t "$chart" -f "$chart/ci/values.yaml" --set prometheusRule.enabled=true --show-only templates/prometheusrule.yaml |
	sed -n '/^spec:/,$p' | tail -n +2 | sed 's/^  //' >"$tmp/rendered/alerts.yaml"
cp "$mon/alerts_test.yaml" "$tmp/rendered/"
promtool check rules "$tmp/rendered/alerts.yaml"
(cd "$tmp/rendered" && promtool test rules alerts_test.yaml)

step "jq + promtool: dashboard"
d="$mon/dashboard.json"
jq -e . "$d" >/dev/null || fail "$d is not valid JSON"
jq -e '.schemaVersion >= 39' "$d" >/dev/null || fail "schemaVersion < 39"
jq -e '[.templating.list[] | select(.type == "datasource" and .query == "prometheus")] | length == 1' "$d" >/dev/null ||
	fail "no Prometheus data source variable"
jq -e '[.templating.list[] | select(.name == "datasource" and .type == "query" and .multi and .includeAll)] | length == 1' "$d" >/dev/null ||
	fail "no multi/include-all datasource label variable"
jq -e '[.. | objects | select(has("gridPos")) | .id] | length == (unique | length)' "$d" >/dev/null || fail "duplicate panel ids"
jq -e '[.. | objects | select(has("targets")) | .targets[] | .datasource.uid == "${prometheus}"] | all' "$d" >/dev/null ||
	fail "a panel target does not use the \${prometheus} data source variable"
# Every panel query must be valid PromQL: wrap them as recording rules (YAML is a superset of JSON).
jq '{groups: [{name: "dashboard", rules: [[.. | objects | select(has("targets")) | .targets[].expr]
	| to_entries[] | {record: "dashboard_query_\(.key)",
	expr: (.value | gsub("\\$__rate_interval"; "5m") | gsub("\\$__range"; "1d") | gsub("\\$\\{?[a-z_]+\\}?"; ".*"))}]}]}' "$d" >"$tmp/dashboard-rules.yaml"
promtool check rules "$tmp/dashboard-rules.yaml"

step "systemd: verify and security"
# verify needs the ExecStart binary; check a copy of the unit that points at a freshly built one.
if compgen -G "cmd/rotatord/*.go" >/dev/null; then
	go build -o "$tmp/rotatord" ./cmd/rotatord
else
	echo "NOTE: cmd/rotatord not present yet; verifying against a stub executable"
	printf '#!/bin/sh\nexit 0\n' >"$tmp/rotatord"
	chmod 755 "$tmp/rotatord"
fi
sed "s#/usr/local/bin/rotatord#$tmp/rotatord#g" "$unit" >"$tmp/rotatord.service"
systemd-analyze verify "$tmp/rotatord.service"
systemd-analyze security --offline=true "$tmp/rotatord.service" | tail -1
# --threshold is in tenths: 20 = exposure 2.0.
systemd-analyze security --offline=true --threshold=20 "$tmp/rotatord.service" >/dev/null ||
	fail "$unit exposure is above 2.0"

step "helm: lint and template"
# The chart's defaults list no data source, which rotatord refuses: rendering them must fail and say so.
if "$helm" template t "$chart" >"$tmp/empty.yaml" 2>"$tmp/empty.err"; then
	fail "the chart rendered with no data sources"
fi
grep -q "config.datasources is empty" "$tmp/empty.err" || fail "rendering without data sources: $(cat "$tmp/empty.err")"
ci=(-f "$chart/ci/values.yaml")
all=(--set serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true)
"$helm" lint --strict "$chart" "${ci[@]}"
"$helm" lint --strict "$chart" "${ci[@]}" "${all[@]}" --set persistence.enabled=true
"$helm" template t "$chart" "${ci[@]}" >"$tmp/default.yaml"
"$helm" template t "$chart" "${ci[@]}" "${all[@]}" >"$tmp/all.yaml"
# The inventory the ConfigMap holds must be one rotatord accepts.
"$helm" template t "$chart" "${ci[@]}" --show-only templates/configmap.yaml |
	sed -n '/^  config.yaml: |/,$p' | tail -n +2 | sed 's/^    //' >"$tmp/config.yaml"
"$tmp/rotatord" check --config "$tmp/config.yaml"
for kind in Deployment ServiceAccount ConfigMap Service; do
	grep -q "^kind: $kind$" "$tmp/default.yaml" || fail "default render has no $kind"
done
for kind in ServiceMonitor PrometheusRule; do
	! grep -q "^kind: $kind$" "$tmp/default.yaml" || fail "$kind rendered while disabled"
	grep -q "^kind: $kind$" "$tmp/all.yaml" || fail "$kind not rendered when enabled"
done
grep -q 'grafana_dashboard: "1"' "$tmp/all.yaml" || fail "dashboard ConfigMap lacks grafana_dashboard label"
grep -q 'azure.workload.identity/use: "true"' "$tmp/default.yaml" || fail "pod lacks the workload identity label"

step "helm: the high-availability variant (ci/ha-values.yaml)"
ha=(-f "$chart/ci/values.yaml" -f "$chart/ci/ha-values.yaml")
"$helm" lint --strict "$chart" "${ha[@]}"
"$helm" lint --strict "$chart" "${ha[@]}" "${all[@]}"
"$helm" template t "$chart" "${ha[@]}" "${all[@]}" >"$tmp/ha.yaml"
"$helm" template t "$chart" "${ha[@]}" --show-only templates/configmap.yaml |
	sed -n '/^  config.yaml: |/,$p' | tail -n +2 | sed 's/^    //' >"$tmp/ha-config.yaml"
grep -q '^kind: PodDisruptionBudget$' "$tmp/ha.yaml" || fail "no PodDisruptionBudget with ha.enabled"
for f in "$tmp/default.yaml" "$tmp/all.yaml"; do
	! grep -q '^kind: PodDisruptionBudget$' "$f" || fail "PodDisruptionBudget rendered without ha.enabled ($f)"
	grep -q '^  replicas: 1$' "$f" || fail "without ha.enabled: not one replica ($f)"
	grep -q '^    type: Recreate$' "$f" || fail "without ha.enabled: not Recreate ($f)"
	! grep -q 'topologySpreadConstraints' "$f" || fail "topologySpreadConstraints without ha.enabled ($f)"
done
grep -q '^  replicas: 2$' "$tmp/ha.yaml" || fail "ha.enabled does not default to 2 replicas"
grep -q '^    type: RollingUpdate$' "$tmp/ha.yaml" || fail "ha.enabled is not a RollingUpdate"
grep -q 'topologyKey: kubernetes.io/hostname' "$tmp/ha.yaml" || fail "ha.enabled does not spread the pods over nodes"
! grep -q -e 'name: state$' -e '^kind: PersistentVolumeClaim$' "$tmp/ha.yaml" || fail "ha.enabled still has a state volume"
for line in '^  lease_blob: https://' '^  lease_duration: 30s$' '^state_blob: https://'; do
	grep -q "$line" "$tmp/ha-config.yaml" || fail "the HA inventory has no line $line: $(cat "$tmp/ha-config.yaml")"
done
! grep -q '^state_file:' "$tmp/ha-config.yaml" || fail "the HA inventory has a state_file"
"$tmp/rotatord" check --config "$tmp/ha-config.yaml"
# Values that would make two processes PATCH the same data sources, or an inventory rotatord refuses,
# must fail the render and say why.
while IFS='|' read -r args message; do
	# shellcheck disable=SC2086 # args is a list of helm flags
	if "$helm" template t "$chart" "${ci[@]}" $args >/dev/null 2>"$tmp/refused.err"; then
		fail "rendered with $args"
	fi
	grep -qF -- "$message" "$tmp/refused.err" || fail "$args: refused without saying $message: $(cat "$tmp/refused.err")"
	echo "ok: $args refused: $message"
done <<EOF
--set replicas=2|replicas is 2 but ha.enabled is false
--set config.state_blob=https://a.blob.core.windows.net/c/state.json|config.state_blob is set: the chart writes it from ha.*
-f $chart/ci/ha-values.yaml --set persistence.enabled=true|persistence.enabled is set with ha.enabled
-f $chart/ci/ha-values.yaml --set config.state_file=/var/lib/rotatord/state.json|config.state_file is set with ha.enabled
-f $chart/ci/ha-values.yaml --set ha.leaseBlob=|ha.leaseBlob is ""
-f $chart/ci/ha-values.yaml --set ha.stateBlob=|ha.stateBlob is ""
-f $chart/ci/ha-values.yaml --set ha.leaseDuration=10s|ha.leaseDuration is "10s": it must be a duration from 15s to 60s
-f $chart/ci/ha-values.yaml --set ha.leaseDuration=2m|ha.leaseDuration is "2m"
EOF

step "helm: the chart on a real Kubernetes API server"
if [ -n "${ROTATORD_SKIP_APISERVER:-}" ]; then
	echo "SKIPPED: ROTATORD_SKIP_APISERVER is set, so the chart was not tried on an API server"
else
	HELM=$helm ROTATORD=$tmp/rotatord bash scripts/kube-apiserver.sh bash .ci/chart-on-apiserver.sh
fi

printf '\ndeploy checks: all passed\n'
