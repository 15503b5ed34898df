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

{{/* The inventory with the listen address and state file the pod spec relies on; values win.
The state file goes in a subdirectory of the state volume, which rotatord creates 0700: the volume's
own root is root-owned and writable by others (emptyDir) or by fsGroup (PVC), and rotatord refuses a
state directory that is not its own. */}}
{{- define "rotatord.config" -}}
{{- if not .Values.config.datasources -}}
{{- fail "config.datasources is empty: list the data sources to rotate in your values (rotatord refuses an empty inventory, so the pod would only crash-loop)" -}}
{{- end -}}
{{- $defaults := dict "listen" (printf "0.0.0.0:%d" (int .Values.port)) "state_file" "/var/lib/rotatord/state/state.json" -}}
{{- merge (deepCopy .Values.config) $defaults | toYaml -}}
{{- end -}}
