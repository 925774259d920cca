{{/* Name of the chart, overridable with nameOverride. */}}
{{- define "cloudlb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name, prefixed with the chart name unless it contains it. */}}
{{- define "cloudlb.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cloudlb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cloudlb.labels" -}}
helm.sh/chart: {{ include "cloudlb.chart" . }}
{{ include "cloudlb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cloudlb
{{- end }}

{{/* Selects the controller pods of this release; never change it, Deployment selectors are immutable. */}}
{{- define "cloudlb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudlb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cloudlb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cloudlb.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name an existing ServiceAccount" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* clusterName, or a failed install that says why it is needed. */}}
{{- define "cloudlb.clusterName" -}}
{{- required "clusterName is required: set it to this cluster's name (--set clusterName=my-cluster); cloudlb tags every cloud resource with it and only touches resources carrying it" .Values.clusterName }}
{{- end }}

{{- define "cloudlb.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The webhook serving certificate's Secret, read by the Deployment and written by webhook.yaml. */}}
{{- define "cloudlb.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "cloudlb.fullname" .) }}
{{- end }}

{{- define "cloudlb.webhookServiceName" -}}
{{- printf "%s-webhook" (include "cloudlb.fullname" .) }}
{{- end }}

{{/* Value combinations the schema cannot express; called from the Deployment so that every install checks them. */}}
{{- define "cloudlb.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas > 1 needs leaderElection.enabled=true: replicas without a leader would reconcile the same load balancers at once" }}
{{- end }}
{{- end }}
