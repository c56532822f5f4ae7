package policy

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Metrics counts what emit-metric emits, in memory, until a metrics
// endpoint reads it (Snapshot). It is bounded: past MaxMetricSeries
// distinct series, new ones are dropped (and counted as dropped).
type Metrics struct {
	mu      sync.Mutex
	series  map[string]*MetricSeries
	dropped int64
}

// MaxMetricSeries bounds the distinct (namespace, name, dimensions) series.
const MaxMetricSeries = 10000

// MetricSeries is one metric with one set of dimension values.
type MetricSeries struct {
	Namespace  string
	Name       string
	Dimensions []MetricDimension
	// Count is how many times it was emitted; Sum the total of the values.
	Count int64
	Sum   float64
}

// MetricDimension is a dimension's name and value.
type MetricDimension struct{ Name, Value string }

// NewMetrics returns an empty set.
func NewMetrics() *Metrics { return &Metrics{series: map[string]*MetricSeries{}} }

// Metrics is the compiler's emit-metric counts.
func (c *Compiler) Metrics() *Metrics { return c.opts.Metrics }

func (m *Metrics) add(ns, name string, dims []MetricDimension, v float64) {
	var b strings.Builder
	b.WriteString(ns)
	b.WriteByte(0)
	b.WriteString(name)
	for _, d := range dims {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte('=')
		b.WriteString(d.Value)
	}
	k := b.String()
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.series[k]
	if !ok {
		if len(m.series) >= MaxMetricSeries {
			m.dropped++
			return
		}
		s = &MetricSeries{Namespace: ns, Name: name, Dimensions: dims}
		m.series[k] = s
	}
	s.Count++
	s.Sum += v
}

// Snapshot returns a copy of every series, sorted by namespace, name and
// dimensions, and how many emissions were dropped for lack of room.
func (m *Metrics) Snapshot() (series []MetricSeries, dropped int64) {
	m.mu.Lock()
	keys := make([]string, 0, len(m.series))
	for k := range m.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]MetricSeries, 0, len(keys))
	for _, k := range keys {
		s := *m.series[k]
		s.Dimensions = append([]MetricDimension(nil), s.Dimensions...)
		out = append(out, s)
	}
	dropped = m.dropped
	m.mu.Unlock()
	return out, dropped
}

// --- emit-metric ---

type emitMetric struct {
	name, namespace string
	value           *value
	dims            []metricDim
}

type metricDim struct {
	name string
	v    *value // nil: a default dimension, filled from the call
}

// defaultDimensions are the dimensions APIM fills when a <dimension> names
// one without a value.
var defaultDimensions = map[string]bool{"API ID": true, "Operation ID": true, "Product ID": true, "User ID": true,
	"Subscription ID": true, "Location": true, "Gateway ID": true, "Client IP": true}

// MaxMetricDimensions is APIM's limit of dimensions per metric.
const MaxMetricDimensions = 5

func compileEmitMetric(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	p := &emitMetric{name: a.str("name", "", true), namespace: a.str("namespace", "API Management", false), value: a.value("value", false)}
	if p.value != nil && !p.value.isExpr() && !a.cc.unresolved(Text{Value: p.value.lit}) {
		if _, err := strconv.ParseFloat(strings.TrimSpace(p.value.lit), 64); err != nil {
			at, _ := a.e.Attr("value")
			a.fail(at.Value.PosAt(0), "attribute 'value' must be a number")
		}
	}
	n := 0
	for _, c := range a.children("dimension") {
		if c.Name != "dimension" {
			continue
		}
		n++
		if n > MaxMetricDimensions {
			a.fail(c.Pos, "at most %d dimensions are allowed", MaxMetricDimensions)
			break
		}
		ca := a.cc.attrs(c, "name", "value")
		d := metricDim{name: ca.str("name", "", true), v: ca.value("value", false)}
		if d.v == nil && !defaultDimensions[d.name] && d.name != "" {
			ca.fail(c.Pos, "dimension '%s' needs a value (only the default dimensions API ID, Operation ID, Product ID, User ID, Subscription ID, Location, Gateway ID and Client IP may omit it)", d.name)
		}
		a.merge(ca.err())
		p.dims = append(p.dims, d)
	}
	if n == 0 {
		a.fail(a.e.Pos, "at least one <dimension> is required")
	}
	return p, a.err()
}

func (p *emitMetric) Run(x *Exchange) error {
	v := 1.0
	if p.value != nil {
		s, err := p.value.str(x)
		if err != nil {
			return err
		}
		if v, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return fail(http.StatusInternalServerError, "ExpressionValueEvaluationFailure", "Expression evaluation failed. emit-metric value is not a number: "+strconv.Quote(s))
		}
	}
	dims := make([]MetricDimension, len(p.dims))
	for i, d := range p.dims {
		dims[i].Name = d.name
		if d.v != nil {
			s, err := d.v.str(x)
			if err != nil {
				return err
			}
			dims[i].Value = s
			continue
		}
		dims[i].Value = x.defaultDimension(d.name)
	}
	x.c.opts.Metrics.add(p.namespace, p.name, dims, v)
	return nil
}
