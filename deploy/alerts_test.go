package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// metricsSource is where the worker declares its metrics; the alerts may use
// only those, and Prometheus' own `up`.
const metricsSource = "../pipeline/metrics.go"

var metricDecl = regexp.MustCompile(`Name:\s*"(dragonfly_[a-z0-9_]+)"`)

func knownMetrics(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(metricsSource)
	if err != nil {
		t.Fatalf("the worker's metrics: %v", err)
	}
	names := []string{"up"}
	for _, m := range metricDecl.FindAllStringSubmatch(string(src), -1) {
		// A histogram is queried through its series.
		names = append(names, m[1], m[1]+"_bucket", m[1]+"_sum", m[1]+"_count")
	}
	if len(names) < 10*4 {
		t.Fatalf("%s declares %d metrics; has the declaration changed shape?", metricsSource, (len(names)-1)/4)
	}
	return names
}

// TestAlertRules: every rule of the PrometheusRule parses as PromQL, queries
// only metrics the worker has and the job the ServiceMonitor names, and has
// what an on-call person needs: a severity, a summary and a description whose
// templates parse.
func TestAlertRules(t *testing.T) {
	b := load(t, overlayDir)
	rules := all[monitoringv1.PrometheusRule](b)
	if len(rules) == 0 {
		t.Fatal("no PrometheusRule rendered")
	}
	job := scrapeJob(t, b)
	metrics := knownMetrics(t)
	seen := map[string]bool{}
	for _, pr := range rules {
		for _, g := range pr.Spec.Groups {
			if len(g.Rules) == 0 {
				t.Errorf("group %s is empty", g.Name)
			}
			for _, r := range g.Rules {
				for _, p := range ruleProblems(r, job, metrics) {
					t.Errorf("%s: %s", r.Alert, p)
				}
				if seen[r.Alert] {
					t.Errorf("alert %s is defined twice", r.Alert)
				}
				seen[r.Alert] = true
			}
		}
	}
	if len(seen) < 5 {
		t.Errorf("only %d alerts", len(seen))
	}
}

// scrapeJob is the job label Prometheus gives the workers' series: the value,
// on the Service, of the label the ServiceMonitor names as jobLabel.
func scrapeJob(t *testing.T, b *bundle) string {
	t.Helper()
	sms := all[monitoringv1.ServiceMonitor](b)
	if len(sms) != 1 {
		t.Fatalf("want one ServiceMonitor, found %d", len(sms))
	}
	for _, s := range all[corev1.Service](b) {
		if selects(&sms[0].Spec.Selector, s.Labels) {
			if job := s.Labels[sms[0].Spec.JobLabel]; job != "" {
				return job
			}
			t.Fatalf("the Service %s has no label %q, the ServiceMonitor's jobLabel", s.Name, sms[0].Spec.JobLabel)
		}
	}
	t.Fatal("the ServiceMonitor selects no Service")
	return ""
}

// ruleProblems checks one alerting rule.
func ruleProblems(r monitoringv1.Rule, job string, metrics []string) []string {
	var p problems
	if r.Alert == "" {
		p.addf("not an alerting rule (record %q)", r.Record)
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr.String())
	if err != nil {
		p.addf("expr: %v", err)
	} else {
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			if !slices.Contains(metrics, vs.Name) {
				p.addf("%s is not a metric of the worker (%s)", vs.Name, metricsSource)
			}
			if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
				return m.Name == "job" && m.Type == labels.MatchEqual && m.Value == job
			}) {
				p.addf("%s does not select job=%q, the ServiceMonitor's job", vs, job)
			}
			return nil
		})
	}
	if r.For != nil {
		if _, err := model.ParseDuration(string(*r.For)); err != nil {
			p.addf("for: %v", err)
		}
	}
	if sev := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, sev) {
		p.addf("severity %q, want critical, warning or info", sev)
	}
	for _, key := range []string{"summary", "description"} {
		text := r.Annotations[key]
		if strings.TrimSpace(text) == "" {
			p.addf("no %s annotation", key)
		}
		if err := parseAlertTemplate(text); err != nil {
			p.addf("%s: %v", key, err)
		}
	}
	return p
}

// parseAlertTemplate parses an annotation as Prometheus does (text/template,
// with $labels and $value defined), with stand-ins for Prometheus' functions.
func parseAlertTemplate(text string) error {
	stub := func(any) string { return "" }
	funcs := template.FuncMap{}
	for _, name := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
		"humanizeTimestamp", "title", "toUpper", "toLower", "safeHtml", "first", "label", "value", "query"} {
		funcs[name] = stub
	}
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	_, err := template.New("annotation").Funcs(funcs).Parse(defs + text)
	return err
}

func TestRuleProblemsAreFound(t *testing.T) {
	metrics := []string{"up", "dragonfly_jobs_leased_total"}
	good := monitoringv1.Rule{
		Alert:       "A",
		Expr:        intstr.FromString(`rate(dragonfly_jobs_leased_total{job="dragonfly"}[5m]) == 0`),
		Labels:      map[string]string{"severity": "warning"},
		Annotations: map[string]string{"summary": "s {{ $labels.pod }}", "description": "d {{ $value | humanize }}"},
	}
	if p := ruleProblems(good, "dragonfly", metrics); len(p) > 0 {
		t.Fatalf("a good rule: %v", p)
	}
	for _, tc := range []struct {
		name    string
		breakIt func(r *monitoringv1.Rule)
		want    string
	}{
		{"bad PromQL", func(r *monitoringv1.Rule) { r.Expr = intstr.FromString(`rate(up{job="dragonfly"}[5m]`) }, "expr"},
		{"unknown metric", func(r *monitoringv1.Rule) { r.Expr = intstr.FromString(`dragonfly_jobs_leased{job="dragonfly"}`) }, "not a metric"},
		{"another job", func(r *monitoringv1.Rule) { r.Expr = intstr.FromString(`up{job="kubernetes-pods"} == 0`) }, "job="},
		{"no job", func(r *monitoringv1.Rule) { r.Expr = intstr.FromString(`up == 0`) }, "job="},
		{"no severity", func(r *monitoringv1.Rule) { r.Labels = nil }, "severity"},
		{"no description", func(r *monitoringv1.Rule) { delete(r.Annotations, "description") }, "description"},
		{"bad template", func(r *monitoringv1.Rule) { r.Annotations["summary"] = "{{ $labels.pod }" }, "summary"},
		{"bad for", func(r *monitoringv1.Rule) { r.For = ptr(monitoringv1.Duration("5 minutes")) }, "for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			r.Labels = map[string]string{"severity": "warning"}
			r.Annotations = map[string]string{"summary": "s", "description": "d"}
			tc.breakIt(&r)
			got := ruleProblems(r, "dragonfly", metrics)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentions %q; problems: %q", tc.want, got)
			}
		})
	}
}
