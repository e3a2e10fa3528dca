{{- define "dynamo-graph.name" -}}
{{- default .Release.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "dynamo-graph.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: dynamo-graph
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dynamo
{{- end -}}

{{/* The graph's config block: what the values select, under what .Values.config adds. */}}
{{- define "dynamo-graph.config" -}}
{{- $cfg := dict "serve" (dict "engine" .Values.engine) -}}
{{- if .Values.planner.enabled -}}
{{- $limits := .Values.planner.limits -}}
{{- $planner := dict "policy" .Values.planner.policy "loadInterval" .Values.planner.loadInterval "sla" (dict "ttftMs" .Values.planner.sla.ttftMs "itlMs" .Values.planner.sla.itlMs) -}}
{{- if .Values.planner.profile -}}{{- $_ := set $planner "profile" .Values.planner.profile -}}{{- end -}}
{{- if gt (int .Values.planner.gpuBudget) 0 -}}{{- $_ := set $planner "gpuBudget" .Values.planner.gpuBudget -}}{{- end -}}
{{- if eq .Values.mode "disagg" -}}
{{- $_ := set $planner "prefill" $limits.prefill -}}
{{- $_ := set $planner "decode" $limits.decode -}}
{{- else -}}
{{- $_ := set $planner "workers" $limits.workers -}}
{{- end -}}
{{- $_ := set $cfg "planner" $planner -}}
{{- end -}}
{{- toYaml (mergeOverwrite (deepCopy .Values.config) $cfg) -}}
{{- end -}}

{{- define "dynamo-graph.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
