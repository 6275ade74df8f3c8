package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The kustomizations under test, relative to this folder: the complete example
// and the overlay that adds the Prometheus Operator component.
const (
	baseDir      = "k8s"
	overlayDir   = "k8s-overlays/prometheus-operator"
	preflightDir = "k8s-overlays/preflight"
)

var kustomizations = []string{baseDir, overlayDir, preflightDir}

// typed lists every kind the manifests may hold, with its Go type. A kind not
// listed fails the tests: a typo in apiVersion or kind would otherwise pass
// unchecked, and a new kind deserves a look at its invariants.
var typed = map[schema.GroupVersionKind]func() any{
	corev1.SchemeGroupVersion.WithKind("Namespace"):                      func() any { return new(corev1.Namespace) },
	corev1.SchemeGroupVersion.WithKind("ConfigMap"):                      func() any { return new(corev1.ConfigMap) },
	corev1.SchemeGroupVersion.WithKind("Secret"):                         func() any { return new(corev1.Secret) },
	corev1.SchemeGroupVersion.WithKind("Service"):                        func() any { return new(corev1.Service) },
	appsv1.SchemeGroupVersion.WithKind("Deployment"):                     func() any { return new(appsv1.Deployment) },
	policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"):          func() any { return new(policyv1.PodDisruptionBudget) },
	autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"): func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"):            func() any { return new(networkingv1.NetworkPolicy) },
	monitoringv1.SchemeGroupVersion.WithKind("ServiceMonitor"):           func() any { return new(monitoringv1.ServiceMonitor) },
	monitoringv1.SchemeGroupVersion.WithKind("PrometheusRule"):           func() any { return new(monitoringv1.PrometheusRule) },
}

// object is one rendered manifest, decoded into its typed struct.
type object struct {
	gvk   schema.GroupVersionKind
	meta  metav1.Object
	value any // a pointer, e.g. *appsv1.Deployment
}

func (o object) String() string {
	return fmt.Sprintf("%s %s/%s", o.gvk.Kind, o.meta.GetNamespace(), o.meta.GetName())
}

// bundle is the output of one kustomization. Each call of load returns fresh
// structs, so a test may change them.
type bundle struct {
	dir     string
	objects []object
}

var renders sync.Map // dir → renderResult

type renderResult struct {
	docs [][]byte
	err  error
}

// render runs kustomize on dir as `kubectl kustomize dir` does, with no
// kubectl, and returns each object's YAML. Results are cached: the files do not
// change during a test run.
func render(dir string) ([][]byte, error) {
	if r, ok := renders.Load(dir); ok {
		return r.(renderResult).docs, r.(renderResult).err
	}
	var r renderResult
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		r.err = fmt.Errorf("kustomize %s: %w", dir, err)
	} else {
		for _, res := range m.Resources() {
			y, err := res.AsYAML()
			if err != nil {
				r.err = fmt.Errorf("kustomize %s: %s: %w", dir, res.CurId(), err)
				break
			}
			r.docs = append(r.docs, y)
		}
	}
	renders.Store(dir, r)
	return r.docs, r.err
}

// decodeStrict decodes one manifest into its typed struct: YAML to JSON (duplicate
// keys refused), then encoding/json with DisallowUnknownFields, then once more
// with sigs.k8s.io/json, which also refuses a known field spelt in another case
// (encoding/json matches names case-insensitively; the API server does not).
func decodeStrict(doc []byte) (object, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return object{}, fmt.Errorf("YAML: %w", err)
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return object{}, fmt.Errorf("apiVersion and kind: %w", err)
	}
	gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
	newValue, ok := typed[gvk]
	if !ok {
		return object{}, fmt.Errorf("unknown kind %q of apiVersion %q", tm.Kind, tm.APIVersion)
	}
	v := newValue()
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return object{}, fmt.Errorf("%s: data after the object", tm.Kind)
	}
	strict, err := sigsjson.UnmarshalStrict(j, newValue())
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if len(strict) > 0 {
		return object{}, fmt.Errorf("%s: %v", tm.Kind, strict)
	}
	meta, ok := v.(metav1.Object)
	if !ok {
		return object{}, fmt.Errorf("%s has no object metadata", tm.Kind)
	}
	return object{gvk: gvk, meta: meta, value: v}, nil
}

// load renders and strictly decodes dir, failing the test on any error.
func load(t *testing.T, dir string) *bundle {
	t.Helper()
	docs, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{dir: dir}
	for _, doc := range docs {
		o, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("%s: %v\n%s", dir, err, doc)
		}
		b.objects = append(b.objects, o)
	}
	return b
}

// all returns the objects of type T, e.g. all[appsv1.Deployment](b).
func all[T any](b *bundle) []*T {
	var out []*T
	for _, o := range b.objects {
		if v, ok := o.value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestKustomizationsRenderStrictly: both kustomizations render, and every
// object decodes strictly into its type.
func TestKustomizationsRenderStrictly(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			b := load(t, dir)
			seen := map[string]bool{}
			for _, o := range b.objects {
				if o.meta.GetName() == "" {
					t.Errorf("%s has no name", o)
				}
				if seen[o.String()] {
					t.Errorf("%s appears twice", o)
				}
				seen[o.String()] = true
			}
			// The complete example: a worker and everything around it.
			want := []string{"Namespace", "ConfigMap", "Secret", "Service", "Deployment",
				"PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"}
			if dir == overlayDir {
				want = append(want, "ServiceMonitor", "PrometheusRule")
			}
			for _, kind := range want {
				found := false
				for _, o := range b.objects {
					found = found || o.gvk.Kind == kind
				}
				if !found {
					t.Errorf("no %s rendered", kind)
				}
			}
			if len(b.objects) != len(want) {
				t.Errorf("%d objects rendered, want %d (one of each of %v)", len(b.objects), len(want), want)
			}
		})
	}
}

// TestStrictDecodingRefusesMistakes: the decoder the test above relies on does
// refuse what it should.
func TestStrictDecodingRefusesMistakes(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown kind", "apiVersion: v1\nkind: Pod2\nmetadata: {name: x}\n", "unknown kind"},
		{"unknown apiVersion", "apiVersion: apps/v2\nkind: Deployment\nmetadata: {name: x}\n", "unknown kind"},
		{"unknown field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n", "unknown field"},
		{"field in another case", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {Replicas: 2}\n", "unknown field"},
		{"duplicate key", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, name: y}\n", "already set"},
		{"wrong type", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {selector: []}\n", "cannot unmarshal"},
		{"unknown field of a CRD", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoint: []}\n", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStrict([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decodeStrict = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := decodeStrict([]byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")); err != nil {
		t.Errorf("a valid Namespace: %v", err)
	}
}
