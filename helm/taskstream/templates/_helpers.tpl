{{/*
Names, labels and the per-service settings every template shares.
*/}}

{{- define "taskstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: the release name, plus the chart name unless it already has it. */}}
{{- define "taskstream.fullname" -}}
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

{{- define "taskstream.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "taskstream.labels" -}}
helm.sh/chart: {{ include "taskstream.chart" . }}
app.kubernetes.io/name: {{ include "taskstream.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: taskstream
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "task-api"). */}}
{{- define "taskstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskstream.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of one component's objects; call with (dict "root" $ "component" "task-api"). */}}
{{- define "taskstream.componentLabels" -}}
{{ include "taskstream.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of the Dapr objects: plain, so the generated dapr-components/kubernetes manifests stay release-independent. */}}
{{- define "taskstream.daprLabels" -}}
app.kubernetes.io/part-of: taskstream
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Deep merge that, unlike sprig's merge/mergeOverwrite, lets a service set false, 0 or "" over a
default. Call with (list $dst $src); $dst is changed in place.
*/}}
{{- define "taskstream.merge" -}}
{{- $dst := index . 0 -}}
{{- $src := index . 1 -}}
{{- range $k, $v := $src -}}
{{- if and (kindIs "map" $v) (kindIs "map" (index $dst $k)) -}}
{{- include "taskstream.merge" (list (index $dst $k) $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The enabled services with their settings: serviceDefaults merged with services.<app id>, as
YAML (use with fromYaml). Each entry gains `id`.
*/}}
{{- define "taskstream.services" -}}
{{- $out := dict -}}
{{- range $id, $svc := .Values.services -}}
{{- $cfg := deepCopy $.Values.serviceDefaults -}}
{{- include "taskstream.merge" (list $cfg (deepCopy (default (dict) $svc))) -}}
{{- if $cfg.enabled -}}
{{- $_ := set $cfg "id" $id -}}
{{- $_ := set $out $id $cfg -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* App ids of the enabled services, as a YAML list. */}}
{{- define "taskstream.appIds" -}}
{{- $ids := list -}}
{{- range $id, $svc := (include "taskstream.services" . | fromYaml) -}}
{{- $ids = append $ids $id -}}
{{- end -}}
{{- toYaml $ids -}}
{{- end -}}

{{/* Image of one service; call with (dict "root" $ "svc" $cfg). */}}
{{- define "taskstream.image" -}}
{{- $g := .root.Values.global.image -}}
{{- $repo := .svc.image.repository -}}
{{- if not $repo -}}
{{- $repo = printf "%s/%s" $g.repository .svc.id -}}
{{- if $g.registry -}}
{{- $repo = printf "%s/%s" $g.registry $repo -}}
{{- end -}}
{{- end -}}
{{- $tag := .svc.image.tag | default $g.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{- define "taskstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "taskstream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "taskstream.daprConfigName" -}}
{{- default (include "taskstream.fullname" .) .Values.dapr.configName -}}
{{- end -}}

{{- define "taskstream.kafkaBrokers" -}}
{{- if .Values.redpanda.enabled -}}
{{- printf "%s-redpanda:9092" (include "taskstream.fullname" .) -}}
{{- else -}}
{{- required "kafka.brokers is required (or set redpanda.enabled=true)" .Values.kafka.brokers -}}
{{- end -}}
{{- end -}}

{{- define "taskstream.existingSecret" -}}
{{- required "secrets.existingSecret is required: the name of a Secret with DATABASE_URL and the other secret settings" .Values.secrets.existingSecret -}}
{{- end -}}

{{/*
Environment of a service container, used by the Deployment and by the migrations Job; call
with (dict "root" $ "svc" $cfg "sidecar" true|false). Names come from
services/platform/src/config.ts only. The Dapr tokens go only to containers beside a sidecar.
*/}}
{{- define "taskstream.env" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
- name: TASKSTREAM_RUNTIME
  value: dapr
- name: APP_ID
  value: {{ $svc.id | quote }}
- name: HOST
  value: "0.0.0.0"
- name: PORT
  value: "8080"
- name: METRICS_PORT
  value: {{ $root.Values.monitoring.metricsPort | quote }}
- name: MIGRATE_ON_START
  value: {{ ternary "false" "true" $root.Values.migrations.enabled | quote }}
- name: PUBSUB_NAME
  value: {{ ternary $root.Values.dapr.pubsub.broadcastName $root.Values.dapr.pubsub.name (and $svc.broadcast .sidecar) | quote }}
{{- if and $svc.broadcast .sidecar }}
# The replica's own name: stable across restarts in a StatefulSet.
- name: SYNC_REPLICA_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
- name: STATESTORE_NAME
  value: {{ $root.Values.dapr.statestore.name | quote }}
{{- if $root.Values.ingress.enabled }}
- name: PUBLIC_URL
  value: {{ printf "%s://%s" (ternary "https" "http" $root.Values.ingress.tls.enabled) $root.Values.ingress.host | quote }}
{{- if and (eq $svc.id "sync") (not (hasKey $root.Values.env "SYNC_ALLOWED_ORIGINS")) (not (hasKey (default (dict) $svc.env) "SYNC_ALLOWED_ORIGINS")) }}
# Only the web UI's own pages open sockets (ADR 0007); `env` can name more origins.
- name: SYNC_ALLOWED_ORIGINS
  value: {{ printf "%s://%s" (ternary "https" "http" $root.Values.ingress.tls.enabled) $root.Values.ingress.host | quote }}
{{- end }}
{{- end }}
{{- $otlp := include "taskstream.appOtlpEndpoint" $root }}
{{- if and .sidecar $otlp (not (hasKey $root.Values.env "OTEL_EXPORTER_OTLP_ENDPOINT")) (not (hasKey (default (dict) $svc.env) "OTEL_EXPORTER_OTLP_ENDPOINT")) }}
# The app's own spans go where the sidecars' go (dapr.tracing).
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $otlp | quote }}
{{- end }}
{{- $plain := deepCopy $root.Values.env -}}
{{- include "taskstream.merge" (list $plain (default (dict) $svc.env)) -}}
{{- range $name, $value := $plain }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- $secret := include "taskstream.existingSecret" $root -}}
{{- range $name := $svc.secretEnv }}
{{- $ref := required (printf "secrets.keys.%s is not defined (services.%s.secretEnv)" $name $svc.id) (index $root.Values.secrets.keys $name) }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ref.key }}
      {{- if $ref.optional }}
      optional: true
      {{- end }}
{{- end }}
{{- if and .sidecar (eq $svc.id "task-api") $root.Values.kafka.consumerLag.enabled }}
{{- $inCluster := $root.Values.redpanda.enabled }}
# task-api reads every app's consumer lag from the brokers, connecting as the pub/sub component does.
- name: KAFKA_BROKERS
  value: {{ include "taskstream.kafkaBrokers" $root | quote }}
- name: KAFKA_TLS
  value: {{ and $root.Values.kafka.tls.enabled (not $inCluster) | toString | quote }}
{{- if and $root.Values.kafka.sasl.enabled (not $inCluster) }}
- name: KAFKA_SASL_MECHANISM
  value: {{ printf "SCRAM-%s" $root.Values.kafka.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.existingSecret is required when kafka.sasl.enabled" $root.Values.kafka.sasl.existingSecret }}
      key: {{ $root.Values.kafka.sasl.usernameKey }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.kafka.sasl.existingSecret }}
      key: {{ $root.Values.kafka.sasl.passwordKey }}
{{- end }}
{{- end }}
{{- if and .sidecar $root.Values.dapr.enabled }}
- name: DAPR_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ required "dapr.apiToken.existingSecret is required" $root.Values.dapr.apiToken.existingSecret }}
      key: token
- name: APP_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ required "dapr.appToken.existingSecret is required" $root.Values.dapr.appToken.existingSecret }}
      key: token
{{- end }}
{{- end -}}

{{/*
The OTLP/HTTP base URL of the services' own spans (OTEL_EXPORTER_OTLP_ENDPOINT): dapr.tracing.appEndpoint,
else the sidecars' collector (otlpEndpoint, host:port) on its OTLP/HTTP port: the given one when the
sidecars speak http too, else 4318, the OpenTelemetry Collector's default (the app exports over
HTTP only). Empty when nothing is exported.
*/}}
{{- define "taskstream.appOtlpEndpoint" -}}
{{- $t := .Values.dapr.tracing -}}
{{- if $t.appEndpoint -}}
{{- $t.appEndpoint -}}
{{- else if $t.otlpEndpoint -}}
{{- $parts := splitList ":" $t.otlpEndpoint -}}
{{- $port := "4318" -}}
{{- if and (eq $t.otlpProtocol "http") (gt (len $parts) 1) -}}
{{- $port = last $parts -}}
{{- end -}}
{{- printf "%s://%s:%s" (ternary "https" "http" $t.otlpIsSecure) (first $parts) $port -}}
{{- end -}}
{{- end -}}

{{/* Where the alerts' runbook_url point: docs/runbooks/ of this version, unless runbookBaseUrl says otherwise. */}}
{{- define "taskstream.runbookBaseUrl" -}}
{{- .Values.monitoring.prometheusRule.runbookBaseUrl | default (printf "%s/blob/v%s/docs/runbooks" .Chart.Home .Chart.AppVersion) | trimSuffix "/" -}}
{{- end -}}

{{/* The /tmp emptyDir every pod with a read-only root filesystem gets. */}}
{{- define "taskstream.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{- define "taskstream.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{- with (omit . "path") }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The /readyz URL of every enabled service's Service, space-separated (helm test). */}}
{{- define "taskstream.readyzUrls" -}}
{{- $root := . -}}
{{- range $id, $svc := (include "taskstream.services" . | fromYaml) -}}
http://{{ include "taskstream.fullname" $root }}-{{ $id }}.{{ $root.Release.Namespace }}.svc/readyz {{ end -}}
{{- end -}}
