{{/* Chart name, overridable. */}}
{{- define "rotatord.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, unless the release name already contains the chart name. */}}
{{- define "rotatord.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rotatord.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "rotatord.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "rotatord.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rotatord.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rotatord.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rotatord.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pods: .Values.replicas, else 2 with ha.enabled and 1 without. */}}
{{- define "rotatord.replicas" -}}
{{- $r := .Values.replicas -}}
{{- if kindIs "invalid" $r -}}
{{- $r = ternary 2 1 (eq (toString .Values.ha.enabled) "true") -}}
{{- end -}}
{{- if not (regexMatch "^[0-9]+$" (toString $r)) -}}
{{- fail (printf "replicas is %v: it must be a whole number of pods" $r) -}}
{{- end -}}
{{- int $r -}}
{{- end -}}

{{/* Refuses values that would render a chart whose pods rotate the same data sources twice, or an
inventory rotatord would refuse. Included by the Deployment. */}}
{{- define "rotatord.validate" -}}
{{- $ha := .Values.ha -}}
{{- $replicas := include "rotatord.replicas" . | int -}}
{{- if and (not $ha.enabled) (gt $replicas 1) -}}
{{- fail (printf "replicas is %d but ha.enabled is false: without the leader lease every pod would PATCH the same data sources; set ha.enabled=true with ha.leaseBlob and ha.stateBlob, or replicas=1" $replicas) -}}
{{- end -}}
{{- range $key := list "ha" "state_blob" -}}
{{- if hasKey $.Values.config $key -}}
{{- fail (printf "config.%s is set: the chart writes it from ha.* (set ha.enabled=true, ha.leaseBlob, ha.leaseDuration and ha.stateBlob instead)" $key) -}}
{{- end -}}
{{- end -}}
{{- if $ha.enabled -}}
{{- $url := "^https?://[^/]+/[^/]+/[^/]+" -}}
{{- if not (regexMatch $url (toString $ha.leaseBlob)) -}}
{{- fail (printf "ha.leaseBlob is %q: with ha.enabled it must be the lease blob's URL, https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB" (toString $ha.leaseBlob)) -}}
{{- end -}}
{{- if not (regexMatch $url (toString $ha.stateBlob)) -}}
{{- fail (printf "ha.stateBlob is %q: with ha.enabled it must be the state blob's URL, https://ACCOUNT.blob.core.windows.net/CONTAINER/state.json" (toString $ha.stateBlob)) -}}
{{- end -}}
{{- if eq (toString $ha.leaseBlob) (toString $ha.stateBlob) -}}
{{- fail "ha.leaseBlob and ha.stateBlob are the same blob: the lease and the state need a blob each" -}}
{{- end -}}
{{- $d := toString $ha.leaseDuration -}}
{{- $form := "^(?:([0-9]+)m)?(?:([0-9]+)s)?$" -}}
{{- $seconds := 0 -}}
{{- if and $d (regexMatch $form $d) -}}
{{- $seconds = add (mul (regexReplaceAll $form $d "${1}" | int) 60) (regexReplaceAll $form $d "${2}" | int) -}}
{{- end -}}
{{- if or (lt (int $seconds) 15) (gt (int $seconds) 60) -}}
{{- fail (printf "ha.leaseDuration is %q: it must be a duration from 15s to 60s (Azure's lease limits), such as 30s" $d) -}}
{{- end -}}
{{- if hasKey .Values.config "state_file" -}}
{{- fail "config.state_file is set with ha.enabled: the state lives in ha.stateBlob, and rotatord refuses state_file and state_blob together" -}}
{{- end -}}
{{- if .Values.persistence.enabled -}}
{{- fail "persistence.enabled is set with ha.enabled: the state lives in ha.stateBlob, and a ReadWriteOnce claim cannot follow two pods onto two nodes; unset persistence.enabled" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The inventory with the listen address and state file the pod spec relies on; values win.
The state file goes in a subdirectory of the state volume, which rotatord creates 0700: the volume's
own root is root-owned and writable by others (emptyDir) or by fsGroup (PVC), and rotatord refuses a
state directory that is not its own. With ha.enabled there is no state file or volume: the chart
writes ha: and state_blob: from ha.*. */}}
{{- define "rotatord.config" -}}
{{- if not .Values.config.datasources -}}
{{- fail "config.datasources is empty: list the data sources to rotate in your values (rotatord refuses an empty inventory, so the pod would only crash-loop)" -}}
{{- end -}}
{{- include "rotatord.validate" . -}}
{{- $defaults := dict "listen" (printf "0.0.0.0:%d" (int .Values.port)) -}}
{{- if .Values.ha.enabled -}}
{{- $_ := set $defaults "ha" (dict "lease_blob" .Values.ha.leaseBlob "lease_duration" (toString .Values.ha.leaseDuration)) -}}
{{- $_ := set $defaults "state_blob" .Values.ha.stateBlob -}}
{{- else -}}
{{- $_ := set $defaults "state_file" "/var/lib/rotatord/state/state.json" -}}
{{- end -}}
{{- merge (deepCopy .Values.config) $defaults | toYaml -}}
{{- end -}}

{{/* topologySpreadConstraints: the values' list, else with ha.enabled one spreading the pods over
nodes; a constraint without labelSelector gets the pods' selector labels. */}}
{{- define "rotatord.topologySpreadConstraints" -}}
{{- $constraints := .Values.topologySpreadConstraints -}}
{{- if and (not $constraints) .Values.ha.enabled -}}
{{- $constraints = list (dict "maxSkew" 1 "topologyKey" "kubernetes.io/hostname" "whenUnsatisfiable" "ScheduleAnyway" "matchLabelKeys" (list "pod-template-hash")) -}}
{{- end -}}
{{- $out := list -}}
{{- range $constraints -}}
{{- $c := deepCopy . -}}
{{- if not (hasKey $c "labelSelector") -}}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (include "rotatord.selectorLabels" $ | fromYaml)) -}}
{{- end -}}
{{- $out = append $out $c -}}
{{- end -}}
{{- if $out -}}
{{- toYaml $out -}}
{{- end -}}
{{- end -}}
