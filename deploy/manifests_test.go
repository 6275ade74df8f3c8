package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Facts about the binary the manifests must match (docs/operating.md, "Running
// a worker").
const (
	imageUID      = 65532            // the image's user and group
	drainMargin   = 10 * time.Second // after the drain: the last submit, the HTTP shutdown, the exit
	memoryOverRSS = 64 << 20         // measured peak RSS ≈ 1.4 × budget; the limit wants 1.5 × budget + this
	metricsPath   = "/metrics"
	livenessPath  = "/healthz"
	readinessPath = "/readyz"
	appLabel      = "app.kubernetes.io/name"
	hostnameKey   = "kubernetes.io/hostname"
)

// privateRanges are the addresses the worker must not reach: the cluster's,
// the node's and the cloud's (metadata service). Its work is all on public hosts.
var privateRanges = []string{
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
	"fc00::/7", "fe80::/10",
}

// TestManifestInvariants: the rendered objects agree with what the binary
// does (see the constants above) and with each other.
func TestManifestInvariants(t *testing.T) {
	known := knownSettings(t)
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			for _, p := range manifestProblems(load(t, dir), known) {
				t.Error(p)
			}
		})
	}
}

// TestManifestInvariantsCatchMistakes breaks the example one way at a time and
// expects manifestProblems to say so: the invariants are checked, not assumed.
func TestManifestInvariantsCatchMistakes(t *testing.T) {
	known := knownSettings(t)
	if p := manifestProblems(load(t, baseDir), known); len(p) > 0 {
		t.Fatalf("the example itself has problems, so mistakes cannot be told apart: %q", p)
	}
	dep := func(b *bundle) *appsv1.Deployment { return all[appsv1.Deployment](b)[0] }
	pod := func(b *bundle) *corev1.PodSpec { return &dep(b).Spec.Template.Spec }
	ctr := func(b *bundle) *corev1.Container { return &pod(b).Containers[0] }
	csc := func(b *bundle) *corev1.SecurityContext { return ctr(b).SecurityContext }
	cm := func(b *bundle) *corev1.ConfigMap { return all[corev1.ConfigMap](b)[0] }
	np := func(b *bundle) *networkingv1.NetworkPolicy { return all[networkingv1.NetworkPolicy](b)[0] }
	for _, tc := range []struct {
		name    string
		breakIt func(b *bundle)
		want    string
	}{
		{"grace period equal to the drain", func(b *bundle) { pod(b).TerminationGracePeriodSeconds = ptr[int64](25) },
			"terminationGracePeriodSeconds"},
		{"drain raised in the ConfigMap", func(b *bundle) { cm(b).Data["DRAGONFLY_DRAIN_TIMEOUT"] = "35" },
			"terminationGracePeriodSeconds"},
		{"liveness on /readyz", func(b *bundle) { ctr(b).LivenessProbe.HTTPGet.Path = "/readyz" }, "liveness"},
		{"no readiness probe", func(b *bundle) { ctr(b).ReadinessProbe = nil }, "readiness"},
		{"probe on another port", func(b *bundle) { ctr(b).ReadinessProbe.HTTPGet.Port = intstr.FromInt32(9090) }, "readiness"},
		{"HTTP address moved", func(b *bundle) { cm(b).Data["DRAGONFLY_HTTP_ADDR"] = ":9090" }, "9090"},
		{"HTTP endpoints off", func(b *bundle) { cm(b).Data["DRAGONFLY_HTTP_ADDR"] = "" }, "DRAGONFLY_HTTP_ADDR"},
		{"scrape annotation port", func(b *bundle) { dep(b).Spec.Template.Annotations["prometheus.io/port"] = "9090" }, "prometheus.io/port"},
		{"scrape annotation path", func(b *bundle) { dep(b).Spec.Template.Annotations["prometheus.io/path"] = "/" }, "prometheus.io/path"},
		{"cpu limit below the threads", func(b *bundle) { ctr(b).Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1500m") },
			"cpu limit"},
		{"threads above the cpu limit", func(b *bundle) { cm(b).Data["DRAGONFLY_THREADS"] = "4" }, "cpu limit"},
		{"threads left to default", func(b *bundle) { delete(cm(b).Data, "DRAGONFLY_THREADS") }, "DRAGONFLY_THREADS"},
		{"memory limit below 1.5 × budget", func(b *bundle) { ctr(b).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("800Mi") },
			"memory limit"},
		{"budget raised", func(b *bundle) { cm(b).Data["DRAGONFLY_MEMORY_BUDGET"] = "805306368" }, "memory limit"},
		{"no cpu request", func(b *bundle) { delete(ctr(b).Resources.Requests, corev1.ResourceCPU) }, "cpu request"},
		{"image latest", func(b *bundle) { ctr(b).Image = "ghcr.io/vipyrsec/dragonfly-client-go:latest" }, "latest"},
		{"image untagged", func(b *bundle) { ctr(b).Image = "ghcr.io/vipyrsec/dragonfly-client-go" }, "no tag"},
		{"root allowed", func(b *bundle) {
			csc(b).RunAsNonRoot = nil
			pod(b).SecurityContext.RunAsNonRoot = ptr(false)
		}, "runAsNonRoot"},
		{"another user", func(b *bundle) { csc(b).RunAsUser = ptr[int64](1000) }, "runAsUser"},
		{"writable root", func(b *bundle) { csc(b).ReadOnlyRootFilesystem = ptr(false) }, "readOnlyRootFilesystem"},
		{"privilege escalation", func(b *bundle) { csc(b).AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation"},
		{"capabilities kept", func(b *bundle) { csc(b).Capabilities.Drop = []corev1.Capability{"NET_RAW"} }, "capabilities"},
		{"capability added", func(b *bundle) { csc(b).Capabilities.Add = []corev1.Capability{"NET_ADMIN"} }, "capabilities"},
		{"no seccomp", func(b *bundle) {
			csc(b).SeccompProfile = nil
			pod(b).SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, "seccomp"},
		{"token mounted", func(b *bundle) { pod(b).AutomountServiceAccountToken = nil }, "automountServiceAccountToken"},
		{"service links", func(b *bundle) { pod(b).EnableServiceLinks = nil }, "enableServiceLinks"},
		{"no spread", func(b *bundle) { pod(b).TopologySpreadConstraints = nil }, "spread"},
		{"replicas fight the autoscaler", func(b *bundle) { dep(b).Spec.Replicas = ptr[int32](2) }, "replicas"},
		{"one replica minimum", func(b *bundle) {
			all[autoscalingv2.HorizontalPodAutoscaler](b)[0].Spec.MinReplicas = ptr[int32](1)
		}, "minReplicas"},
		{"PDB keeps unhealthy pods", func(b *bundle) {
			p := policyv1.IfHealthyBudget
			all[policyv1.PodDisruptionBudget](b)[0].Spec.UnhealthyPodEvictionPolicy = &p
		}, "unhealthyPodEvictionPolicy"},
		{"metadata service reachable", func(b *bundle) {
			ip := np(b).Spec.Egress[1].To[0].IPBlock
			ip.Except = slices.DeleteFunc(ip.Except, func(s string) bool { return s == "169.254.0.0/16" })
		}, "169.254"},
		{"IPv6 private reachable", func(b *bundle) { np(b).Spec.Egress[1].To[1].IPBlock.Except = nil }, "fc00"},
		{"all egress allowed", func(b *bundle) {
			np(b).Spec.Egress = append(np(b).Spec.Egress, networkingv1.NetworkPolicyEgressRule{})
		}, "egress"},
		{"every ingress port", func(b *bundle) { np(b).Spec.Ingress[0].Ports = nil }, "ingress"},
		{"no egress isolation", func(b *bundle) {
			np(b).Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		}, "Egress"},
		{"missing ConfigMap", func(b *bundle) { ctr(b).EnvFrom[0].ConfigMapRef.Name = "dragonfly-config" }, "ConfigMap"},
		{"service selects nothing", func(b *bundle) {
			all[corev1.Service](b)[0].Spec.Selector = map[string]string{appLabel: "other"}
		}, "Service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := load(t, baseDir)
			tc.breakIt(b)
			got := manifestProblems(b, known)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentions %q; problems: %q", tc.want, got)
			}
		})
	}
}

// TestServiceMonitorMistakes: the ServiceMonitor of the overlay is checked
// against the Service too.
func TestServiceMonitorMistakes(t *testing.T) {
	known := knownSettings(t)
	for _, tc := range []struct {
		name    string
		breakIt func(sm *monitoringv1.ServiceMonitor)
		want    string
	}{
		{"another port", func(sm *monitoringv1.ServiceMonitor) { sm.Spec.Endpoints[0].Port = "metrics" }, "port"},
		{"another path", func(sm *monitoringv1.ServiceMonitor) { sm.Spec.Endpoints[0].Path = "/stats" }, "/stats"},
		{"selects nothing", func(sm *monitoringv1.ServiceMonitor) {
			sm.Spec.Selector.MatchLabels = map[string]string{appLabel: "other"}
		}, "selects no Service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := load(t, overlayDir)
			tc.breakIt(all[monitoringv1.ServiceMonitor](b)[0])
			got := manifestProblems(b, known)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentions %q; problems: %q", tc.want, got)
			}
		})
	}
}

type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// workerContainers returns the containers of the Deployments' pods.
func workerContainers(b *bundle) []*corev1.Container {
	var out []*corev1.Container
	for _, d := range all[appsv1.Deployment](b) {
		for i := range d.Spec.Template.Spec.Containers {
			out = append(out, &d.Spec.Template.Spec.Containers[i])
		}
	}
	return out
}

// manifestProblems checks a rendered kustomization; nil means all is well.
func manifestProblems(b *bundle, known map[string]string) []string {
	var p problems
	deps := all[appsv1.Deployment](b)
	if len(deps) != 1 || len(deps[0].Spec.Template.Spec.Containers) != 1 {
		p.addf("want one Deployment of one container, found %d Deployments", len(deps))
		return p
	}
	d := deps[0]
	spec := &d.Spec.Template.Spec
	c := &spec.Containers[0]
	podLabels := d.Spec.Template.Labels

	p.objects(b)
	if msg := imageProblem(c.Image); msg != "" {
		p.addf("image %q: %s", c.Image, msg)
	}
	settings, explicit := p.settings(b, c, known)
	for _, name := range []string{"DRAGONFLY_THREADS", "DRAGONFLY_MEMORY_BUDGET", "DRAGONFLY_DRAIN_TIMEOUT", "DRAGONFLY_HTTP_ADDR"} {
		if !explicit[name] {
			p.addf("%s is not set in the ConfigMap: set it, so that the resources and probes can be checked against it", name)
		}
	}
	if drain, err := seconds(settings["DRAGONFLY_DRAIN_TIMEOUT"]); err != nil {
		p.addf("DRAGONFLY_DRAIN_TIMEOUT: %v", err)
	} else if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < drain+drainMargin {
		p.addf("terminationGracePeriodSeconds %v must be at least DRAGONFLY_DRAIN_TIMEOUT %v + %v, or the kubelet kills jobs still draining",
			deref(g), drain, drainMargin)
	}
	if port, err := httpPort(settings["DRAGONFLY_HTTP_ADDR"]); err != nil {
		p.addf("DRAGONFLY_HTTP_ADDR: %v", err)
	} else {
		p.endpoints(b, d, c, port)
		p.networkPolicies(b, podLabels, c, port)
	}
	p.resources(c, settings)
	p.security(spec)
	p.placement(b, d)
	p.disruptions(b, podLabels)
	return p
}

// objects: one namespace holds everything, and every object says it is ours.
func (p *problems) objects(b *bundle) {
	nss := all[corev1.Namespace](b)
	if len(nss) != 1 {
		p.addf("want one Namespace, found %d", len(nss))
		return
	}
	for _, o := range b.objects {
		if o.meta.GetLabels()[appLabel] != "dragonfly" {
			p.addf("%s lacks the label %s=dragonfly", o, appLabel)
		}
		if _, isNS := o.value.(*corev1.Namespace); !isNS && o.meta.GetNamespace() != nss[0].Name {
			p.addf("%s is not in the namespace %s", o, nss[0].Name)
		}
	}
}

// settings returns the worker's effective settings: the defaults of
// .env.example, then the envFrom sources in order, then env. explicit names
// the settings that did not come from the defaults.
func (p *problems) settings(b *bundle, c *corev1.Container, known map[string]string) (map[string]string, map[string]bool) {
	s, explicit := maps.Clone(known), map[string]bool{}
	set := func(k, v string) { s[k], explicit[k] = v, true }
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			i := slices.IndexFunc(all[corev1.ConfigMap](b), func(cm *corev1.ConfigMap) bool { return cm.Name == from.ConfigMapRef.Name })
			if i < 0 {
				p.addf("envFrom names ConfigMap %q, which is not in the output", from.ConfigMapRef.Name)
				continue
			}
			for k, v := range all[corev1.ConfigMap](b)[i].Data {
				set(from.Prefix+k, v)
			}
		case from.SecretRef != nil:
			i := slices.IndexFunc(all[corev1.Secret](b), func(s *corev1.Secret) bool { return s.Name == from.SecretRef.Name })
			if i < 0 {
				p.addf("envFrom names Secret %q, which is not in the output", from.SecretRef.Name)
				continue
			}
			sec := all[corev1.Secret](b)[i]
			for k, v := range sec.Data {
				set(from.Prefix+k, string(v))
			}
			for k, v := range sec.StringData {
				set(from.Prefix+k, v)
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, e.Value)
		}
	}
	return s, explicit
}

// endpoints: the probes, the port, the scrape annotations, the Service and
// the ServiceMonitor all point at the port of DRAGONFLY_HTTP_ADDR.
func (p *problems) endpoints(b *bundle, d *appsv1.Deployment, c *corev1.Container, port int32) {
	if got, ok := containerPort(c, intstr.FromString("http")); !ok || got != port {
		p.addf("the container port named http is %d, want %d (DRAGONFLY_HTTP_ADDR)", got, port)
	}
	probe := func(what string, pr *corev1.Probe, path string) {
		switch {
		case pr == nil || pr.HTTPGet == nil:
			p.addf("no %s probe by HTTP GET", what)
		case path != "" && pr.HTTPGet.Path != path:
			p.addf("%s probe asks %s, want %s", what, pr.HTTPGet.Path, path)
		default:
			if got, ok := containerPort(c, pr.HTTPGet.Port); !ok || got != port {
				p.addf("%s probe asks port %s, want %d (DRAGONFLY_HTTP_ADDR)", what, pr.HTTPGet.Port.String(), port)
			}
		}
	}
	probe("liveness", c.LivenessProbe, livenessPath)
	probe("readiness", c.ReadinessProbe, readinessPath)
	if c.StartupProbe != nil {
		probe("startup", c.StartupProbe, "")
	}

	ann := d.Spec.Template.Annotations
	for key, want := range map[string]string{"prometheus.io/scrape": "true",
		"prometheus.io/port": strconv.Itoa(int(port)), "prometheus.io/path": metricsPath} {
		if ann[key] != want {
			p.addf("pod annotation %s is %q, want %q", key, ann[key], want)
		}
	}

	var scraped []*corev1.Service
	for _, s := range all[corev1.Service](b) {
		if !selectsAll(s.Spec.Selector, d.Spec.Template.Labels) {
			continue
		}
		for _, sp := range s.Spec.Ports {
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			if got, ok := containerPort(c, target); sp.Name == "http" && ok && got == port {
				scraped = append(scraped, s)
			}
		}
	}
	if len(scraped) == 0 {
		p.addf("no Service selects the workers with a port named http on %d", port)
	}
	for _, sm := range all[monitoringv1.ServiceMonitor](b) {
		if !slices.ContainsFunc(scraped, func(s *corev1.Service) bool { return selects(&sm.Spec.Selector, s.Labels) }) {
			p.addf("ServiceMonitor %s selects no Service of the workers", sm.Name)
		}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Port != "http" {
				p.addf("ServiceMonitor %s scrapes port %q, want http", sm.Name, ep.Port)
			}
			if ep.Path != "" && ep.Path != metricsPath {
				p.addf("ServiceMonitor %s scrapes %s, want %s", sm.Name, ep.Path, metricsPath)
			}
		}
	}
}

// resources: the CPUs match the matching threads, the memory the budget.
func (p *problems) resources(c *corev1.Container, settings map[string]string) {
	lim, req := c.Resources.Limits, c.Resources.Requests
	threads, err := strconv.ParseInt(settings["DRAGONFLY_THREADS"], 10, 64)
	if err != nil {
		p.addf("DRAGONFLY_THREADS: %v", err)
	}
	cpu, hasCPU := lim[corev1.ResourceCPU]
	switch {
	case !hasCPU:
		p.addf("no cpu limit: the worker would size itself to the node's CPUs")
	case cpu.MilliValue() < threads*1000:
		p.addf("cpu limit %s is below DRAGONFLY_THREADS=%d", cpu.String(), threads)
	}
	budget, err := strconv.ParseInt(settings["DRAGONFLY_MEMORY_BUDGET"], 10, 64)
	if err != nil {
		p.addf("DRAGONFLY_MEMORY_BUDGET: %v", err)
	}
	need := budget*3/2 + memoryOverRSS
	if mem, ok := lim[corev1.ResourceMemory]; !ok || mem.Value() < need {
		p.addf("memory limit %s is below 1.5 × DRAGONFLY_MEMORY_BUDGET (%d) + 64 MiB = %d bytes", mem.String(), budget, need)
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		r, ok := req[name]
		l, limited := lim[name]
		switch {
		case !ok:
			p.addf("no %s request (the autoscaler and the scheduler need it)", name)
		case limited && r.Cmp(l) > 0:
			p.addf("%s request %s is above its limit %s", name, r.String(), l.String())
		}
	}
}

// security: the pod meets the restricted Pod Security Standard and runs as the
// image's user.
func (p *problems) security(spec *corev1.PodSpec) {
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		p.addf("automountServiceAccountToken must be false: the worker never calls the API server")
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		p.addf("enableServiceLinks must be false: the Service named dragonfly would inject DRAGONFLY_* variables")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		p.addf("the pod shares the host's network, PIDs or IPC")
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		// The container's settings win over the pod's.
		if v := first(sc.RunAsNonRoot, psc.RunAsNonRoot); v == nil || !*v {
			p.addf("container %s: runAsNonRoot is not true", c.Name)
		}
		if v := first(sc.RunAsUser, psc.RunAsUser); v == nil || *v != imageUID {
			p.addf("container %s: runAsUser is %v, want %d", c.Name, deref(v), imageUID)
		}
		if v := first(sc.RunAsGroup, psc.RunAsGroup); v == nil || *v != imageUID {
			p.addf("container %s: runAsGroup is %v, want %d", c.Name, deref(v), imageUID)
		}
		if v := first(sc.SeccompProfile, psc.SeccompProfile); v == nil || v.Type != corev1.SeccompProfileTypeRuntimeDefault {
			p.addf("container %s: seccompProfile is not RuntimeDefault", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			p.addf("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			p.addf("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			p.addf("container %s: privileged", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			p.addf("container %s: capabilities must drop ALL and add none", c.Name)
		}
	}
}

// placement: the workers spread over nodes, and the autoscaler owns their count.
func (p *problems) placement(b *bundle, d *appsv1.Deployment) {
	labels := d.Spec.Template.Labels
	if !selects(d.Spec.Selector, labels) {
		p.addf("the Deployment's selector does not select its pods")
	}
	spread := slices.ContainsFunc(d.Spec.Template.Spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
		return c.TopologyKey == hostnameKey && selects(c.LabelSelector, labels)
	})
	if a := d.Spec.Template.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			spread = spread || term.TopologyKey == hostnameKey && selects(term.LabelSelector, labels)
		}
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			spread = spread || w.PodAffinityTerm.TopologyKey == hostnameKey && selects(w.PodAffinityTerm.LabelSelector, labels)
		}
	}
	if !spread {
		p.addf("no topology spread or anti-affinity over %s selects the workers", hostnameKey)
	}

	hpas := all[autoscalingv2.HorizontalPodAutoscaler](b)
	if len(hpas) != 1 {
		p.addf("want one HorizontalPodAutoscaler, found %d", len(hpas))
		return
	}
	h := hpas[0].Spec
	if h.ScaleTargetRef.Kind != "Deployment" || h.ScaleTargetRef.Name != d.Name || h.ScaleTargetRef.APIVersion != "apps/v1" {
		p.addf("the HorizontalPodAutoscaler scales %s %s, want Deployment %s", h.ScaleTargetRef.Kind, h.ScaleTargetRef.Name, d.Name)
	}
	if h.MinReplicas == nil || *h.MinReplicas < 2 {
		p.addf("HorizontalPodAutoscaler minReplicas %v: want at least 2 workers", deref(h.MinReplicas))
	}
	if h.MaxReplicas < deref(h.MinReplicas) {
		p.addf("HorizontalPodAutoscaler maxReplicas %d is below minReplicas", h.MaxReplicas)
	}
	if !slices.ContainsFunc(h.Metrics, func(m autoscalingv2.MetricSpec) bool {
		return m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType
	}) {
		p.addf("the HorizontalPodAutoscaler does not scale on CPU utilisation")
	}
	if d.Spec.Replicas != nil {
		p.addf("the Deployment sets replicas, which every apply would reset under the autoscaler")
	}
}

// disruptions: evictions go one at a time, and an unhealthy worker never
// blocks a node drain.
func (p *problems) disruptions(b *bundle, podLabels map[string]string) {
	n := 0
	for _, pdb := range all[policyv1.PodDisruptionBudget](b) {
		if !selects(pdb.Spec.Selector, podLabels) {
			continue
		}
		n++
		if pol := pdb.Spec.UnhealthyPodEvictionPolicy; pol == nil || *pol != policyv1.AlwaysAllow {
			p.addf("PodDisruptionBudget %s: unhealthyPodEvictionPolicy is not AlwaysAllow", pdb.Name)
		}
		if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.String() == "0" || mu.String() == "0%" {
			p.addf("PodDisruptionBudget %s: maxUnavailable must allow an eviction", pdb.Name)
		}
	}
	if n != 1 {
		p.addf("want one PodDisruptionBudget selecting the workers, found %d", n)
	}
}

// networkPolicies checks what the policies selecting the workers let through:
// in, only the HTTP port; out, DNS and HTTPS to public addresses only.
func (p *problems) networkPolicies(b *bundle, podLabels map[string]string, c *corev1.Container, port int32) {
	var pols []*networkingv1.NetworkPolicy
	for _, np := range all[networkingv1.NetworkPolicy](b) {
		if selects(&np.Spec.PodSelector, podLabels) {
			pols = append(pols, np)
		}
	}
	for _, typ := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
		if !slices.ContainsFunc(pols, func(np *networkingv1.NetworkPolicy) bool { return slices.Contains(np.Spec.PolicyTypes, typ) }) {
			p.addf("no NetworkPolicy isolates the workers' %s", typ)
		}
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	if !allowsIngress(pols, c, tcp, port) {
		p.addf("NetworkPolicy: ingress to the HTTP port %d is denied", port)
	}
	for _, other := range []int32{22, 443, 6443, 9090, 10250} {
		if other != port && allowsIngress(pols, c, tcp, other) {
			p.addf("NetworkPolicy: ingress to TCP %d is allowed, want only %d", other, port)
		}
	}
	dns := netip.MustParseAddr("10.96.0.10") // kube-dns, typically
	for _, proto := range []corev1.Protocol{udp, tcp} {
		if !allowsEgress(pols, dns, proto, 53) {
			p.addf("NetworkPolicy: egress to DNS (%s 53) is denied", proto)
		}
	}
	// files.pythonhosted.org (Fastly) and the mainframe (behind Cloudflare).
	for _, public := range []string{"151.101.0.223", "104.16.0.1", "2a04:4e42::223"} {
		ip := netip.MustParseAddr(public)
		if !allowsEgress(pols, ip, tcp, 443) {
			p.addf("NetworkPolicy: egress to HTTPS at %s is denied", ip)
		}
		if allowsEgress(pols, ip, tcp, 22) || allowsEgress(pols, ip, tcp, 80) {
			p.addf("NetworkPolicy: egress to %s is allowed beyond HTTPS", ip)
		}
	}
	for _, r := range privateRanges {
		pre := netip.MustParsePrefix(r)
		// The first and the last address of the range.
		for _, ip := range []netip.Addr{pre.Addr().Next(), lastAddr(pre).Prev()} {
			for _, port := range []int32{22, 80, 443, 2379, 6443, 8080, 10250} {
				if allowsEgress(pols, ip, tcp, port) {
					p.addf("NetworkPolicy: egress to %s (in %s) TCP %d is allowed", ip, r, port)
					break
				}
			}
		}
	}
}

// allowsIngress reports whether some policy lets TCP or UDP port in (from
// anywhere). With no policy isolating ingress, everything is allowed.
func allowsIngress(pols []*networkingv1.NetworkPolicy, c *corev1.Container, proto corev1.Protocol, port int32) bool {
	isolated := false
	for _, np := range pols {
		isolated = isolated || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		for _, r := range np.Spec.Ingress {
			if portsMatch(r.Ports, proto, port, c) {
				return true
			}
		}
	}
	return !isolated
}

// allowsEgress reports whether some policy lets the worker reach ip on port.
// A pod or namespace selector reaches pods, which have private addresses: it
// counts as reaching every private address.
func allowsEgress(pols []*networkingv1.NetworkPolicy, ip netip.Addr, proto corev1.Protocol, port int32) bool {
	isolated := false
	for _, np := range pols {
		isolated = isolated || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		for _, r := range np.Spec.Egress {
			if !portsMatch(r.Ports, proto, port, nil) {
				continue
			}
			if len(r.To) == 0 || slices.ContainsFunc(r.To, func(peer networkingv1.NetworkPolicyPeer) bool { return peerReaches(peer, ip) }) {
				return true
			}
		}
	}
	return !isolated
}

func peerReaches(peer networkingv1.NetworkPolicyPeer, ip netip.Addr) bool {
	if peer.IPBlock == nil {
		return slices.ContainsFunc(privateRanges, func(r string) bool { return netip.MustParsePrefix(r).Contains(ip) })
	}
	cidr, err := netip.ParsePrefix(peer.IPBlock.CIDR)
	if err != nil || !cidr.Contains(ip) {
		return false
	}
	for _, ex := range peer.IPBlock.Except {
		if e, err := netip.ParsePrefix(ex); err == nil && e.Contains(ip) {
			return false
		}
	}
	return true
}

// portsMatch reports whether a rule's ports admit proto/port. A named port
// is looked up in c, or (egress, c nil) counts as any port.
func portsMatch(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32, c *corev1.Container) bool {
	if len(ports) == 0 {
		return true
	}
	for _, pp := range ports {
		want := corev1.ProtocolTCP // the default
		if pp.Protocol != nil {
			want = *pp.Protocol
		}
		if want != proto {
			continue
		}
		if pp.Port == nil {
			return true
		}
		lo := pp.Port.IntVal
		if pp.Port.Type == intstr.String {
			if c == nil {
				return true
			}
			lo, _ = containerPort(c, *pp.Port)
		}
		hi := lo
		if pp.EndPort != nil {
			hi = *pp.EndPort
		}
		if lo <= port && port <= hi {
			return true
		}
	}
	return false
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(a)*8; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(a)
	return last
}

// imageProblem says what is wrong with an image reference, or "".
func imageProblem(ref string) string {
	if strings.Contains(ref, "@sha256:") {
		return ""
	}
	tag := ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		tag = ref[i+1:]
	}
	switch tag {
	case "":
		return "no tag, which means latest; pin a version"
	case "latest":
		return "latest moves; pin a version"
	}
	return ""
}

// httpPort returns the port of DRAGONFLY_HTTP_ADDR (":8080", "0.0.0.0:8080").
func httpPort(addr string) (int32, error) {
	if addr == "" {
		return 0, fmt.Errorf("empty: the endpoints are off, and the probes need them")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return int32(n), err
}

// seconds parses a duration the way dragonfly does: whole seconds or a Go
// duration.
func seconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, true
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// selects reports whether a non-empty label selector selects labels.
func selects(sel *metav1.LabelSelector, labels map[string]string) bool {
	if sel == nil || len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(k8slabels.Set(labels))
}

// selectsAll is selects for a Service's plain map selector.
func selectsAll(sel, labels map[string]string) bool {
	return selects(&metav1.LabelSelector{MatchLabels: sel}, labels)
}

func first[T any](vs ...*T) *T {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}

func ptr[T any](v T) *T { return &v }

func TestNetworkHelpers(t *testing.T) {
	if got := lastAddr(netip.MustParsePrefix("172.16.0.0/12")); got != netip.MustParseAddr("172.31.255.255") {
		t.Errorf("lastAddr(172.16.0.0/12) = %s", got)
	}
	if got := lastAddr(netip.MustParsePrefix("fe80::/10")); got != netip.MustParseAddr("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff") {
		t.Errorf("lastAddr(fe80::/10) = %s", got)
	}
	for addr, want := range map[string]int32{":8080": 8080, "0.0.0.0:9090": 9090, "[::]:80": 80} {
		if got, err := httpPort(addr); err != nil || got != want {
			t.Errorf("httpPort(%q) = %d, %v; want %d", addr, got, err, want)
		}
	}
	for _, bad := range []string{"", "8080", ":http2", ":70000"} {
		if _, err := httpPort(bad); err == nil {
			t.Errorf("httpPort(%q) accepted", bad)
		}
	}
	for v, want := range map[string]time.Duration{"25": 25 * time.Second, "25s": 25 * time.Second, "1m30s": 90 * time.Second} {
		if got, err := seconds(v); err != nil || got != want {
			t.Errorf("seconds(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for ref, ok := range map[string]bool{
		"ghcr.io/vipyrsec/dragonfly-client-go:v0.1.0": true,
		"localhost:5000/dragonfly@sha256:0123":        true,
		"ghcr.io/vipyrsec/dragonfly-client-go":        false,
		"localhost:5000/dragonfly":                    false,
		"ghcr.io/vipyrsec/dragonfly-client-go:latest": false,
	} {
		if got := imageProblem(ref) == ""; got != ok {
			t.Errorf("imageProblem(%q) = %q", ref, imageProblem(ref))
		}
	}
}
