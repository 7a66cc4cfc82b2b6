{{- define "thumbnails.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "thumbnails.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "thumbnails.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "thumbnails.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "thumbnails.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: the existing service account to use when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "thumbnails.image" -}}
{{- $repository := required "image.repository: where the image built from the root Dockerfile was pushed" .Values.image.repository -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The normal-priority queue's URL, checked; the high and low queues are this plus -high / -low. */}}
{{- define "thumbnails.queueUrl" -}}
{{- $url := required "aws.queueUrl: the SQS queue URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME" .Values.aws.queueUrl -}}
{{- if not (regexMatch "^https://[^/]+/[0-9]+/[A-Za-z0-9_-]+$" $url) -}}
{{- fail (printf "aws.queueUrl must look like https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, not %q" $url) -}}
{{- end -}}
{{- $url -}}
{{- end -}}

{{/* Pod spec parts both components share. */}}
{{- define "thumbnails.podCommon" -}}
serviceAccountName: {{ include "thumbnails.serviceAccountName" . }}
# IRSA brings its own projected token; the pods never call the Kubernetes API.
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Container parts both components share. */}}
{{- define "thumbnails.containerCommon" -}}
image: {{ include "thumbnails.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "thumbnails.fullname" . }}
{{- end -}}

{{/* The read-only root filesystem's one writable place. */}}
{{- define "thumbnails.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/* Environment entries from Secrets, for a container's env list. */}}
{{- define "thumbnails.secretEnv" -}}
{{- if .Values.webhook.existingSecret -}}
- name: WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.webhook.existingSecret }}
      key: {{ .Values.webhook.key }}
{{- end }}
{{- end -}}
