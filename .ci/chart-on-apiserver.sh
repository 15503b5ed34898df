#!/usr/bin/env bash
# Installs the Helm chart on a real Kubernetes API server. Run it under
# scripts/kube-apiserver.sh, which provides KUBECONFIG and kubectl:
#   HELM=/path/to/helm ROTATORD=/path/to/rotatord bash scripts/kube-apiserver.sh bash .ci/chart-on-apiserver.sh
#
# 1. the Prometheus operator's CRDs are installed from its Go module;
# 2. the chart, rendered with ci/values.yaml and with every optional part on, passes a strict
#    server-side dry run (unknown fields, wrong types and CRD schemas refused; any warning fails);
# 3. helm install, upgrade to a changed inventory (the ConfigMap changes in place, the Deployment not)
#    and uninstall, with nothing left behind; helm printing any API-server warning fails;
# 4. what the server holds: the pod spec as hardened as the README says (and the namespace enforces the
#    restricted Pod Security Standard), objects that fit together (selectors, ports, the ServiceAccount,
#    which may not touch the Kubernetes API), the ConfigMap's inventory accepted by `rotatord check`;
# 5. the high-availability variant (ci/ha-values.yaml), dry run, installed and uninstalled: two replicas,
#    RollingUpdate, a PodDisruptionBudget and a topology spread that select the pods; and an upgrade of
#    the single-replica release to it;
# 6. the checks themselves: a chart with an unknown field, a wrong type, a bad ServiceMonitor interval or
#    a pod spec below the restricted standard, a RoleBinding to the chart's account, a PodDisruptionBudget
#    or a topology spread that selects no pod, must fail them.
# No scheduler or kubelet runs: objects are validated, admitted and stored; no pod starts.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
chart=deploy/helm/rotatord
operator_version=v0.85.0 # github.com/prometheus-operator/prometheus-operator, whose CRDs the chart targets
ns=rotatord-test
release=rotatord
: "${HELM:?HELM must name the helm binary}" "${ROTATORD:?ROTATORD must name the rotatord binary}"
command -v kubectl >/dev/null || { echo "kubectl not on PATH: run this under scripts/kube-apiserver.sh" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
ci=(-f "$chart/ci/values.yaml")
ha=(-f "$chart/ci/values.yaml" -f "$chart/ci/ha-values.yaml")
all=(--set serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true)
k() { kubectl --warnings-as-errors -n "$ns" "$@"; }

# strict CHART [HELM ARGS]...: the rendered chart as the API server would take it, changing nothing.
strict() {
	local dir=$1
	shift
	"$HELM" template "$release" "$dir" -n "$ns" "$@" >"$tmp/rendered.yaml"
	k apply --server-side --dry-run=server --validate=strict -f "$tmp/rendered.yaml"
}

# quiet_helm ARGS...: helm, failing on anything it prints to stderr: the API server's warnings
# (an unknown field is only a warning to helm) arrive there.
quiet_helm() {
	"$HELM" "$@" -n "$ns" >"$tmp/helm.out" 2>"$tmp/helm.err" || { cat "$tmp/helm.out" "$tmp/helm.err" >&2; return 1; }
	if [ -s "$tmp/helm.err" ]; then
		echo "helm $1 printed warnings:" >&2
		cat "$tmp/helm.err" >&2
		return 1
	fi
}

step "API server"
server=$(kubectl version -o json | jq -r .serverVersion.gitVersion)
echo "server $server, kubectl $(kubectl version -o json | jq -r .clientVersion.gitVersion)"
case $server in v1.*) ;; *) fail "the API server reports version $server: charts' kubeVersion checks would fail" ;; esac

step "namespace $ns, enforcing the restricted Pod Security Standard"
kubectl --warnings-as-errors apply --server-side -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/audit: restricted
EOF

step "Prometheus operator $operator_version CRDs"
crds=$(cd scripts/kube && go mod download -json "github.com/prometheus-operator/prometheus-operator@$operator_version" | jq -r .Dir)/example/prometheus-operator-crd
kubectl --warnings-as-errors apply --server-side -f "$crds/monitoring.coreos.com_servicemonitors.yaml" \
	-f "$crds/monitoring.coreos.com_prometheusrules.yaml"
kubectl wait --for condition=Established --timeout 60s \
	crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com

step "strict server-side dry run"
strict "$chart" "${ci[@]}"
strict "$chart" "${ci[@]}" "${all[@]}" --set persistence.enabled=true
strict "$chart" "${ha[@]}"
strict "$chart" "${ha[@]}" "${all[@]}"

step "helm install"
quiet_helm install "$release" "$chart" "${ci[@]}" "${all[@]}"
kinds=serviceaccount,configmap,service,deployment,servicemonitor,prometheusrule,poddisruptionbudget
installed=$(k get $kinds -l app.kubernetes.io/instance=$release -o name)
echo "$installed"
[ "$(wc -l <<<"$installed")" = 7 ] || fail "helm install made $(wc -l <<<"$installed") objects, want 7 (no PodDisruptionBudget)"

step "the pod spec the server holds"
k get deployment "$release" -o json >"$tmp/deployment.json"
# Each line is a claim of the README's Helm section, read back from the stored object.
while IFS='|' read -r what expr; do
	jq -e "$expr" "$tmp/deployment.json" >/dev/null || fail "Deployment: $what ($expr)"
	echo "ok: $what"
done <<'EOF'
one replica, Recreate|.spec.replicas == 1 and .spec.strategy.type == "Recreate"
non-root, UID and GID 65532|.spec.template.spec.securityContext | .runAsNonRoot and .runAsUser == 65532 and .runAsGroup == 65532
RuntimeDefault seccomp|.spec.template.spec.securityContext.seccompProfile.type == "RuntimeDefault"
no service-account token mounted|.spec.template.spec.automountServiceAccountToken == false
workload identity label|.spec.template.metadata.labels["azure.workload.identity/use"] == "true"
read-only root file system|[.spec.template.spec.containers[].securityContext.readOnlyRootFilesystem] | all
no privilege escalation|[.spec.template.spec.containers[].securityContext.allowPrivilegeEscalation == false] | all
no capabilities|[.spec.template.spec.containers[].securityContext.capabilities.drop == ["ALL"]] | all
a memory limit|[.spec.template.spec.containers[].resources.limits.memory] | all
GOMEMLIMIT from the memory limit|.spec.template.spec.containers[0].env[] | select(.name == "GOMEMLIMIT") | .valueFrom.resourceFieldRef.resource == "limits.memory"
probes on /healthz and /readyz|.spec.template.spec.containers[0] | .livenessProbe.httpGet.path == "/healthz" and .readinessProbe.httpGet.path == "/readyz"
EOF

step "how the stored objects fit together"
# Mistakes every object passes on its own: a selector that matches nothing, a port by a name that
# does not exist. The claims read the stored Deployment, Service, ServiceMonitor and ServiceAccount.
for kind in service servicemonitor serviceaccount; do
	k get "$kind" "$release" -o json >"$tmp/$kind.json"
done
while IFS='|' read -r what expr; do
	jq -e -n --slurpfile d "$tmp/deployment.json" --slurpfile s "$tmp/service.json" \
		--slurpfile m "$tmp/servicemonitor.json" --slurpfile a "$tmp/serviceaccount.json" \
		"\$d[0] as \$d | \$s[0] as \$s | \$m[0] as \$m | \$a[0] as \$a | $expr" >/dev/null || fail "$what ($expr)"
	echo "ok: $what"
done <<'EOF'
the Service selects the pod|$s.spec.selector | to_entries | all(.value == $d.spec.template.metadata.labels[.key])
the Service's target port is a container port|$s.spec.ports[0].targetPort as $p | [$d.spec.template.spec.containers[].ports[].name] | index($p) != null
the ServiceMonitor selects the Service|$m.spec.selector.matchLabels | to_entries | all(.value == $s.metadata.labels[.key])
the ServiceMonitor scrapes a Service port|[$m.spec.endpoints[].port] - [$s.spec.ports[].name] == []
the pod runs as the chart's ServiceAccount|$d.spec.template.spec.serviceAccountName == $a.metadata.name
the ServiceAccount names the workload identity|$a.metadata.annotations["azure.workload.identity/client-id"] == "00000000-0000-0000-0000-000000000000"
EOF
# rotatord never calls the Kubernetes API: the chart must grant its account nothing.
grants_nothing() {
	local sa=system:serviceaccount:$ns:$release answer
	for verb_resource in "get configmaps" "list secrets" "create pods" "get leases.coordination.k8s.io"; do
		# shellcheck disable=SC2086 # two words: verb and resource
		answer=$(kubectl auth can-i $verb_resource -n "$ns" --as "$sa" 2>&1) || true
		[ "$answer" = no ] || { echo "the chart's ServiceAccount may $verb_resource: $answer" >&2; return 1; }
	done
}
grants_nothing || fail "the chart grants its ServiceAccount access to the Kubernetes API"
echo "ok: the ServiceAccount may not get configmaps, list secrets, create pods or get leases"

step "the inventory the server holds"
k get configmap "$release" -o jsonpath='{.data.config\.yaml}' >"$tmp/config.yaml"
"$ROTATORD" check --config "$tmp/config.yaml"

step "helm upgrade to a changed inventory"
cm_before=$(k get configmap "$release" -o json)
deploy_before=$(k get deployment "$release" -o json)
cat >"$tmp/changed.yaml" <<'EOF'
config:
  defaults:
    schedule: "@every 12h"
EOF
quiet_helm upgrade "$release" "$chart" "${ci[@]}" "${all[@]}" -f "$tmp/changed.yaml"
cm_after=$(k get configmap "$release" -o json)
deploy_after=$(k get deployment "$release" -o json)
[ "$(jq -r .metadata.uid <<<"$cm_before")" = "$(jq -r .metadata.uid <<<"$cm_after")" ] ||
	fail "the ConfigMap was replaced, not updated in place"
jq -r '.data["config.yaml"]' <<<"$cm_after" | grep -q 'schedule: '"'"'@every 12h'"'" ||
	fail "the ConfigMap does not hold the changed schedule: $(jq -r '.data["config.yaml"]' <<<"$cm_after")"
# rotatord's file watcher reloads the mounted ConfigMap: the pod template must not change, or
# the Deployment would restart the pod for nothing.
[ "$(jq -c .spec.template <<<"$deploy_before")" = "$(jq -c .spec.template <<<"$deploy_after")" ] ||
	fail "the upgrade changed the pod template"
[ "$(jq .metadata.generation <<<"$deploy_after")" = "$(jq .metadata.generation <<<"$deploy_before")" ] ||
	fail "the upgrade bumped the Deployment's generation"
echo "ok: ConfigMap $(jq -r .metadata.uid <<<"$cm_after") updated in place, Deployment generation $(jq .metadata.generation <<<"$deploy_after")"
k get configmap "$release" -o jsonpath='{.data.config\.yaml}' >"$tmp/config.yaml"
"$ROTATORD" check --config "$tmp/config.yaml"

# ha_fits RELEASE: the claims of the README's Helm section on high availability, read back from the
# stored Deployment and PodDisruptionBudget; prints the first that fails and returns 1.
ha_fits() {
	local r=$1 what expr
	k get deployment "$r" -o json >"$tmp/ha-deployment.json"
	k get poddisruptionbudget "$r" -o json >"$tmp/ha-pdb.json"
	while IFS='|' read -r what expr; do
		jq -e -n --slurpfile d "$tmp/ha-deployment.json" --slurpfile p "$tmp/ha-pdb.json" \
			"\$d[0] as \$d | \$p[0] as \$p | \$d.spec.template.metadata.labels as \$pod | $expr" >/dev/null ||
			{ echo "$r: $what ($expr)"; return 1; }
		echo "ok: $what"
	done <<'EOF'
two replicas|$d.spec.replicas == 2
RollingUpdate, maxUnavailable 0 and maxSurge 1|$d.spec.strategy | .type == "RollingUpdate" and .rollingUpdate.maxUnavailable == 0 and .rollingUpdate.maxSurge == 1
no state volume|[$d.spec.template.spec.volumes[].name] | index("state") == null
the PodDisruptionBudget selects the pods|$p.spec.selector | (.matchExpressions // []) == [] and (.matchLabels | length > 0 and (to_entries | all(.value == $pod[.key])))
the PodDisruptionBudget lets one pod go at a time|$p.spec.maxUnavailable == 1 and $p.spec.unhealthyPodEvictionPolicy == "AlwaysAllow"
the topology spread selects the pods|$d.spec.template.spec.topologySpreadConstraints | length > 0 and all(.labelSelector | (.matchExpressions // []) == [] and (.matchLabels | length > 0 and (to_entries | all(.value == $pod[.key]))))
the pods spread over nodes, as a preference|$d.spec.template.spec.topologySpreadConstraints | any(.topologyKey == "kubernetes.io/hostname" and .whenUnsatisfiable == "ScheduleAnyway" and .maxSkew == 1)
EOF
}
# ha_inventory RELEASE: the stored ConfigMap's inventory has ha: and state_blob:, and no state_file.
ha_inventory() {
	k get configmap "$1" -o jsonpath='{.data.config\.yaml}' >"$tmp/ha-config.yaml"
	local line
	for line in '^  lease_blob: https://contosoops.blob.core.windows.net/rotatord/leader$' '^  lease_duration: 30s$' \
		'^state_blob: https://contosoops.blob.core.windows.net/rotatord/state.json$'; do
		grep -q "$line" "$tmp/ha-config.yaml" || fail "the inventory of $1 has no line $line: $(cat "$tmp/ha-config.yaml")"
	done
	! grep -q '^state_file:' "$tmp/ha-config.yaml" || fail "the inventory of $1 has a state_file: $(cat "$tmp/ha-config.yaml")"
	"$ROTATORD" check --config "$tmp/ha-config.yaml"
	echo "ok: the inventory has ha.lease_blob, ha.lease_duration and state_blob, and no state_file"
}

step "helm upgrade of the single replica to high availability"
quiet_helm upgrade "$release" "$chart" "${ha[@]}" "${all[@]}"
ha_fits "$release" || fail "after the upgrade to high availability"
ha_inventory "$release"

step "helm uninstall"
leftover() { k get all,configmap,serviceaccount,secret,servicemonitor,prometheusrule,persistentvolumeclaim,poddisruptionbudget -o name; }
quiet_helm uninstall "$release"
left=$(leftover)
[ -z "$left" ] || fail "left after uninstall: $left"
echo "ok: nothing left in $ns"

step "helm install, high availability"
quiet_helm install "$release" "$chart" "${ha[@]}" "${all[@]}"
installed=$(k get $kinds -l app.kubernetes.io/instance=$release -o name)
echo "$installed"
[ "$(wc -l <<<"$installed")" = 8 ] || fail "helm install made $(wc -l <<<"$installed") objects, want 8"
ha_fits "$release" || fail "the high-availability release"
grants_nothing || fail "the chart grants its ServiceAccount access to the Kubernetes API"
echo "ok: the ServiceAccount may not get configmaps, list secrets, create pods or get leases"
ha_inventory "$release"
quiet_helm uninstall "$release"
left=$(leftover)
[ -z "$left" ] || fail "left after uninstall: $left"
echo "ok: nothing left in $ns"

step "the checks refuse broken charts"
# refuse NAME PATTERN CHART [HELM ARGS]...: the strict dry run must fail and say PATTERN.
refuse() {
	local name=$1 pattern=$2
	shift 2
	if strict "$@" >"$tmp/refused.out" 2>&1; then
		cat "$tmp/refused.out" >&2
		fail "$name: the strict dry run accepted it"
	fi
	grep -q -- "$pattern" "$tmp/refused.out" || { cat "$tmp/refused.out" >&2; fail "$name: refused without saying $pattern"; }
	echo "ok: $name refused: $(grep -m1 -- "$pattern" "$tmp/refused.out")"
}
# broken SED: a copy of the chart with SED applied to its Deployment.
broken() {
	rm -rf "$tmp/broken"
	cp -r "$chart" "$tmp/broken"
	sed -i "$1" "$tmp/broken/templates/deployment.yaml"
	cmp -s "$chart/templates/deployment.yaml" "$tmp/broken/templates/deployment.yaml" && fail "sed $1 changed nothing"
	echo "$tmp/broken"
}
unknown_field='s/^      automountServiceAccountToken: false$/&\n      terminationGracePeriod: 30/'
b=$(broken "$unknown_field")
refuse "an unknown field" 'spec.template.spec.terminationGracePeriod: field not declared in schema' "$b" "${ci[@]}"
b=$(broken 's/containerPort: {{ .Values.port }}/containerPort: "{{ .Values.port }}"/')
refuse "a wrong type" 'containerPort: expected numeric' "$b" "${ci[@]}"
refuse "a bad ServiceMonitor interval" 'spec.endpoints\[0\].interval: Invalid value: "30 seconds"' \
	"$chart" "${ci[@]}" "${all[@]}" --set "serviceMonitor.interval=30 seconds"
b=$(broken '/allowPrivilegeEscalation: false/d')
refuse "a pod spec below the restricted standard" 'would violate PodSecurity "restricted' "$b" "${ci[@]}"
# A grant the chart did not make must be seen by the check.
# (A Role of our own: the built-in view role is empty here, its rules aggregated by a controller that does not run.)
k create role granted --verb get --resource configmaps >/dev/null
k create rolebinding granted --role granted --serviceaccount "$ns:$release" >/dev/null
if grants_nothing 2>"$tmp/granted"; then
	fail "a RoleBinding to get configmaps went unnoticed"
fi
echo "ok: a RoleBinding noticed: $(cat "$tmp/granted")"
k delete rolebinding/granted role/granted >/dev/null
# helm itself only warns about an unknown field: quiet_helm must turn that into a failure.
b=$(broken "$unknown_field")
if quiet_helm install broken "$b" "${ci[@]}" 2>"$tmp/warned"; then
	fail "helm install of a chart with an unknown field passed"
fi
grep -q 'unknown field' "$tmp/warned" || { cat "$tmp/warned" >&2; fail "helm install failed without the unknown-field warning"; }
echo "ok: helm install with an unknown field refused: $(grep -m1 'unknown field' "$tmp/warned")"
"$HELM" uninstall broken -n "$ns" >/dev/null
# A PodDisruptionBudget or a topology spread that selects no pod is valid on its own, and protects or
# spreads nothing: ha_fits must notice each.
# noticed NAME PATTERN CHART [HELM ARGS]...: installed as release broken, ha_fits must fail on PATTERN.
noticed() {
	local name=$1 pattern=$2
	shift 2
	quiet_helm install broken "$@"
	if ha_fits broken-rotatord >"$tmp/noticed" 2>&1; then
		cat "$tmp/noticed" >&2
		fail "$name went unnoticed"
	fi
	grep -q -- "$pattern" "$tmp/noticed" || { cat "$tmp/noticed" >&2; fail "$name: noticed, but not as $pattern"; }
	echo "ok: $name noticed: $(tail -1 "$tmp/noticed")"
	"$HELM" uninstall broken -n "$ns" >/dev/null
}
rm -rf "$tmp/broken"
cp -r "$chart" "$tmp/broken"
sed -i 's/^      {{- include "rotatord.selectorLabels" . | nindent 6 }}$/&\n      app.kubernetes.io\/component: nothing/' \
	"$tmp/broken/templates/pdb.yaml"
cmp -s "$chart/templates/pdb.yaml" "$tmp/broken/templates/pdb.yaml" && fail "the PodDisruptionBudget's selector was not broken"
noticed "a PodDisruptionBudget that selects no pod" 'the PodDisruptionBudget selects the pods' "$tmp/broken" "${ha[@]}"
cat >"$tmp/spread.yaml" <<'EOF'
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels: {app.kubernetes.io/name: nothing}
EOF
noticed "a topology spread that selects no pod" 'the topology spread selects the pods' "$chart" "${ha[@]}" -f "$tmp/spread.yaml"
left=$(leftover)
[ -z "$left" ] || fail "left after the broken releases: $left"

printf '\nchart on the API server: all passed\n'
