{{- define "sagemeter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sagemeter.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sagemeter.labels" -}}
{{ include "sagemeter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sagemeter
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "sagemeter.serviceAccountName" -}}
{{- default (include "sagemeter.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Watched namespaces; the adopt namespace must be one of them. */}}
{{- define "sagemeter.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) -}}
{{- fail "replicas > 1 needs peering.enabled: without peering every replica would act" -}}
{{- end -}}
{{- if and .Values.adopt.tag .Values.watchNamespaces (not (has .Values.adopt.namespace .Values.watchNamespaces)) -}}
{{- fail (printf "adopt.namespace %q must be in watchNamespaces: tag discovery creates ManagedEndpoints there" .Values.adopt.namespace) -}}
{{- end -}}
{{- end -}}

{{/* The rules for ManagedEndpoints and what they own (cluster- or namespace-wide). */}}
{{- define "sagemeter.namespacedRules" -}}
# kopf lists and watches ManagedEndpoints and patches finalizers and its
# annotations; tag discovery (adopt.tag) creates them.
- apiGroups: [sagemeter.io]
  resources: [managedendpoints]
  verbs: [list, watch, patch, create]
# Status goes through the status subresource.
- apiGroups: [sagemeter.io]
  resources: [managedendpoints/status]
  verbs: [patch]
# kopf posts Events through the core API.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# API_KEY routes keep the key in a Secret owned by the ManagedEndpoint:
# created, updated when the key changes, deleted with the route. Write-only:
# the operator never reads (get/list/watch) any Secret; a JSON Patch `test`
# on the ownerReference lets the API server refuse a Secret that is not the
# object's own.
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, patch, delete]
{{- end -}}

{{/* Tenancy: cluster-scoped in every mode (EndpointPolicies, namespaces, bindings). */}}
{{- define "sagemeter.tenancyRules" -}}
# EndpointPolicies are read cluster-wide (get also lets the operator create
# bindings that name them as params); sagemeter writes their status.
- apiGroups: [sagemeter.io]
  resources: [endpointpolicies]
  verbs: [get, list, watch]
- apiGroups: [sagemeter.io]
  resources: [endpointpolicies/status]
  verbs: [patch]
# Which policies select a namespace depends on its name and labels.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
# One or two ValidatingAdmissionPolicyBindings per EndpointPolicy, kept by
# sagemeter (owned by the policy).
- apiGroups: [admissionregistration.k8s.io]
  resources: [validatingadmissionpolicybindings]
  verbs: [get, list, watch, create, update, patch, delete]
{{- end -}}
