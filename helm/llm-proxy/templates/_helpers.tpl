{{/* Chart name, truncated to the 63 characters Kubernetes allows in names. */}}
{{- define "llm-proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; object names append "-<role>", so it leaves room for that. */}}
{{- define "llm-proxy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "llm-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "llm-proxy.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "llm-proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "llm-proxy.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "llm-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llm-proxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "llm-proxy.secretName" -}}
{{- default (printf "%s-secrets" (include "llm-proxy.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* SIGTERM drain plus the preStop pause plus a margin for the process to exit. */}}
{{- define "llm-proxy.gracePeriod" -}}
{{- add (add .Values.shutdown.drainSeconds .Values.shutdown.preStopSleepSeconds) 5 }}
{{- end }}

{{/* One env entry read from the Secret. Context: dict "root" $ "key" <secrets.keys name>. */}}
{{- define "llm-proxy.secretEnv" -}}
{{- $names := dict "databaseUrl" "LLM_PROXY_DATABASE__URL" "redisUrl" "LLM_PROXY_REDIS__URL" "managementToken" "LLM_PROXY_MANAGEMENT_TOKEN" "encryptionKey" "LLM_PROXY_ENCRYPTION_KEY" -}}
- name: {{ index $names .key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "llm-proxy.secretName" .root }}
      key: {{ index .root.Values.secrets.keys .key }}
{{- end }}

{{/* Settings every role gets from the chart itself. */}}
{{- define "llm-proxy.baseEnv" -}}
- name: LLM_PROXY_SERVER__HOST
  value: "0.0.0.0"
- name: LLM_PROXY_SERVER__PORT
  value: {{ .Values.port | quote }}
- name: LLM_PROXY_SERVER__SHUTDOWN_TIMEOUT_SECS
  value: {{ .Values.shutdown.drainSeconds | quote }}
- name: LLM_PROXY_DATA_DIR
  value: /var/lib/llm-proxy
{{- if .Values.config.toml }}
- name: LLM_PROXY_CONFIG
  value: /etc/llm-proxy/config.toml
{{- end }}
{{- end }}

{{/*
A role's Deployment. Context: dict "root" $ "role" <name> "cfg" <its values>
"secrets" <list of secrets.keys names> "env" <list of extra env entries>.
*/}}
{{- define "llm-proxy.deployment" -}}
{{- $root := .root }}
{{- $cfg := .cfg }}
{{- $role := .role }}
{{- $fullname := include "llm-proxy.fullname" $root }}
{{- $hpa := $cfg.autoscaling | default dict }}
{{- $persistence := $cfg.persistence | default dict }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}-{{ $role }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "llm-proxy.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $role }}
spec:
  {{- if not $hpa.enabled }}
  replicas: {{ $cfg.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "llm-proxy.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/component: {{ $role }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- with $cfg.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "llm-proxy.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ $role }}
    spec:
      # Kubernetes would inject <SERVICE>_PORT-style variables; the LLM_PROXY_ loader must not
      # see look-alikes of its own settings.
      enableServiceLinks: false
      automountServiceAccountToken: false
      serviceAccountName: {{ include "llm-proxy.serviceAccountName" $root }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ include "llm-proxy.gracePeriod" $root }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ $role }}
          image: {{ include "llm-proxy.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            - {{ $role }}
          ports:
            - name: http
              containerPort: {{ $root.Values.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ $fullname }}-env
          env:
            {{- include "llm-proxy.baseEnv" $root | nindent 12 }}
            {{- range $key := .secrets }}
            {{- include "llm-proxy.secretEnv" (dict "root" $root "key" $key) | nindent 12 }}
            {{- end }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $cfg.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: {{ $root.Values.probes.startup.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.startup.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.startup.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", "{{ $root.Values.shutdown.preStopSleepSeconds }}"]
          resources:
            {{- toYaml $cfg.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: data
              mountPath: /var/lib/llm-proxy
            {{- if $root.Values.config.toml }}
            - name: config
              mountPath: /etc/llm-proxy
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        - name: data
          {{- if $persistence.enabled }}
          persistentVolumeClaim:
            claimName: {{ required "persistence.existingClaim is required when persistence is enabled" $persistence.existingClaim }}
          {{- else }}
          emptyDir:
            sizeLimit: {{ $cfg.dataSizeLimit }}
          {{- end }}
        {{- if $root.Values.config.toml }}
        - name: config
          configMap:
            name: {{ $fullname }}-file
        {{- end }}
      {{- with $cfg.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
