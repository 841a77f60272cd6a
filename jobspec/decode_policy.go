package jobspec

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// patch is a policy block as written: one setter per attribute present, so that it
// can be merged over the defaults (and a task's restart over its group's).
type patch[T any] []func(*T)

func (pt patch[T]) apply(t *T) {
	for _, set := range pt {
		set(t)
	}
}

// policyPatch holds the policy blocks written in one job, group or task.
type policyPatch struct {
	restart    patch[RestartPolicy]
	reschedule patch[ReschedulePolicy]
	update     patch[Update]
}

func setInt[T any](p *parser, b *hclsyntax.Body, path, sub, name string, pt *patch[T], set func(*T, int)) {
	var v int
	if p.integer(b, path, sub, name, &v) {
		*pt = append(*pt, func(t *T) { set(t, v) })
	}
}

func setDur[T any](p *parser, b *hclsyntax.Body, path, sub, name string, pt *patch[T], set func(*T, time.Duration)) {
	var v time.Duration
	if p.duration(b, path, sub, name, &v) {
		*pt = append(*pt, func(t *T) { set(t, v) })
	}
}

func setStr[T any](p *parser, b *hclsyntax.Body, path, sub, name string, pt *patch[T], set func(*T, string)) {
	var v string
	if p.str(b, path, sub, name, &v) {
		*pt = append(*pt, func(t *T) { set(t, v) })
	}
}

func setBool[T any](p *parser, b *hclsyntax.Body, path, sub, name string, pt *patch[T], set func(*T, bool)) {
	var v bool
	if p.boolean(b, path, sub, name, &v) {
		*pt = append(*pt, func(t *T) { set(t, v) })
	}
}

func (p *parser) restart(blk *hclsyntax.Block, path string) patch[RestartPolicy] {
	const sub = "restart."
	p.record(field(path, "restart"), blk.DefRange())
	b := blk.Body
	p.checkBody(b, path, sub, spec{attrs: []string{"attempts", "interval", "delay", "mode"},
		ignored: map[string]string{"render_templates": "templates are rendered again at every start of a task"}})
	var pt patch[RestartPolicy]
	setInt(p, b, path, sub, "attempts", &pt, func(r *RestartPolicy, v int) { r.Attempts = v })
	setDur(p, b, path, sub, "interval", &pt, func(r *RestartPolicy, v time.Duration) { r.Interval = v })
	setDur(p, b, path, sub, "delay", &pt, func(r *RestartPolicy, v time.Duration) { r.Delay = v })
	setStr(p, b, path, sub, "mode", &pt, func(r *RestartPolicy, v string) { r.Mode = v })
	return pt
}

func (p *parser) reschedule(blk *hclsyntax.Block, path string) patch[ReschedulePolicy] {
	const sub = "reschedule."
	p.record(field(path, "reschedule"), blk.DefRange())
	b := blk.Body
	p.checkBody(b, path, sub, spec{attrs: []string{"attempts", "interval", "delay", "delay_function", "max_delay", "unlimited"}})
	var pt patch[ReschedulePolicy]
	setInt(p, b, path, sub, "attempts", &pt, func(r *ReschedulePolicy, v int) { r.Attempts = v })
	setDur(p, b, path, sub, "interval", &pt, func(r *ReschedulePolicy, v time.Duration) { r.Interval = v })
	setDur(p, b, path, sub, "delay", &pt, func(r *ReschedulePolicy, v time.Duration) { r.Delay = v })
	setStr(p, b, path, sub, "delay_function", &pt, func(r *ReschedulePolicy, v string) { r.DelayFunction = v })
	setDur(p, b, path, sub, "max_delay", &pt, func(r *ReschedulePolicy, v time.Duration) { r.MaxDelay = v })
	setBool(p, b, path, sub, "unlimited", &pt, func(r *ReschedulePolicy, v bool) { r.Unlimited = v })
	return pt
}

func (p *parser) update(blk *hclsyntax.Block, path string) patch[Update] {
	const sub = "update."
	p.record(field(path, "update"), blk.DefRange())
	b := blk.Body
	p.checkBody(b, path, sub, spec{attrs: []string{"max_parallel", "health_check", "min_healthy_time",
		"healthy_deadline", "progress_deadline", "auto_revert", "auto_promote", "canary", "stagger"}})
	var pt patch[Update]
	setInt(p, b, path, sub, "max_parallel", &pt, func(u *Update, v int) { u.MaxParallel = v })
	setStr(p, b, path, sub, "health_check", &pt, func(u *Update, v string) { u.HealthCheck = v })
	setDur(p, b, path, sub, "min_healthy_time", &pt, func(u *Update, v time.Duration) { u.MinHealthyTime = v })
	setDur(p, b, path, sub, "healthy_deadline", &pt, func(u *Update, v time.Duration) { u.HealthyDeadline = v })
	setDur(p, b, path, sub, "progress_deadline", &pt, func(u *Update, v time.Duration) { u.ProgressDeadline = v })
	setBool(p, b, path, sub, "auto_revert", &pt, func(u *Update, v bool) { u.AutoRevert = v })
	setInt(p, b, path, sub, "canary", &pt, func(u *Update, v int) { u.Canary = v })
	setBool(p, b, path, sub, "auto_promote", &pt, func(u *Update, v bool) { u.AutoPromote = v })
	setDur(p, b, path, sub, "stagger", &pt, func(u *Update, v time.Duration) { u.Stagger = v })
	return pt
}

// shorthands are Nomad's operator attributes: `regexp = "..."` means
// operator = "regexp", value = "...".
var shorthands = []string{"regexp", "version", "semver", "set_contains", "set_contains_any", "set_contains_all"}

// target decodes attribute/operator/value and the operator shorthands shared by
// constraint and affinity blocks; it returns LTarget, Operand, RTarget.
func (p *parser) target(b *hclsyntax.Body, path, sub string) (l, op, r string) {
	op = "="
	p.str(b, path, sub, "attribute", &l)
	p.str(b, path, sub, "value", &r)
	_, hasOp := b.Attributes["operator"]
	p.str(b, path, sub, "operator", &op)
	for _, s := range shorthands {
		a, ok := b.Attributes[s]
		if !ok {
			continue
		}
		if hasOp {
			p.errAt(a.NameRange, field(path, sub+s), p.text(a.Expr.Range()), "write either operator = %q and value, or %s = VALUE, not both", s, s)
		}
		if p.str(b, path, sub, s, &r) {
			op = s
		}
	}
	return l, op, r
}

func (p *parser) constraints(b *hclsyntax.Body, path string, first int) []Constraint {
	var out []Constraint
	for i, blk := range blocks(b, "constraint") {
		sub := fmt.Sprintf("constraint[%d].", first+i)
		p.record(field(path, sub[:len(sub)-1]), blk.DefRange())
		p.checkBody(blk.Body, path, sub, spec{attrs: append([]string{"attribute", "operator", "value",
			"distinct_hosts", "distinct_property"}, shorthands...)})
		var c Constraint
		c.LTarget, c.Operand, c.RTarget = p.target(blk.Body, path, sub)
		var distinct bool
		if p.boolean(blk.Body, path, sub, "distinct_hosts", &distinct) && distinct {
			c.Operand = "distinct_hosts"
		}
		var prop string
		if p.str(blk.Body, path, sub, "distinct_property", &prop) {
			c.Operand, c.LTarget = "distinct_property", prop
		}
		out = append(out, c)
	}
	return out
}

func (p *parser) affinities(b *hclsyntax.Body, path string, first int) []Affinity {
	var out []Affinity
	for i, blk := range blocks(b, "affinity") {
		sub := fmt.Sprintf("affinity[%d].", first+i)
		p.record(field(path, sub[:len(sub)-1]), blk.DefRange())
		p.checkBody(blk.Body, path, sub, spec{attrs: append([]string{"attribute", "operator", "value", "weight"}, shorthands...)})
		a := Affinity{Weight: 50}
		a.LTarget, a.Operand, a.RTarget = p.target(blk.Body, path, sub)
		p.integer(blk.Body, path, sub, "weight", &a.Weight)
		out = append(out, a)
	}
	return out
}

func (p *parser) spreads(b *hclsyntax.Body, path string) []Spread {
	var out []Spread
	for i, blk := range blocks(b, "spread") {
		sub := fmt.Sprintf("spread[%d].", i)
		p.record(field(path, sub[:len(sub)-1]), blk.DefRange())
		p.checkBody(blk.Body, path, sub, spec{attrs: []string{"attribute", "weight"}, blocks: []string{"target"}})
		s := Spread{Weight: 50}
		p.str(blk.Body, path, sub, "attribute", &s.Attribute)
		p.integer(blk.Body, path, sub, "weight", &s.Weight)
		for _, tb := range blocks(blk.Body, "target") {
			if !p.labels(tb, field(path, sub+"target"), 1, `target "us-east-1" { percent = 50 }`) {
				continue
			}
			t := SpreadTarget{Value: tb.Labels[0]}
			tsub := fmt.Sprintf("%starget %q.", sub, t.Value)
			p.record(field(path, tsub[:len(tsub)-1]), tb.DefRange())
			p.checkBody(tb.Body, path, tsub, spec{attrs: []string{"value", "percent"}})
			p.str(tb.Body, path, tsub, "value", &t.Value)
			p.integer(tb.Body, path, tsub, "percent", &t.Percent)
			s.Targets = append(s.Targets, t)
		}
		out = append(out, s)
	}
	return out
}
