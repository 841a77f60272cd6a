package jobspec

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// runtimeRoots are the roots of Nomad's run-time interpolation, such as
// "${attr.kernel.name}" or "${NOMAD_PORT_http}". They are not known when the file
// is parsed, so inside strings they are kept as written for the peer to fill in.
var runtimeRoots = []string{"attr", "node", "meta", "device", "env"}

func isRuntimeRoot(name string) bool {
	if contains(runtimeRoots, name) || strings.HasPrefix(name, "NOMAD_") {
		return true
	}
	// Environment variables of the task, e.g. "${HOME}".
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return name != "" && name[0] >= 'A' && name[0] <= 'Z'
}

// eval evaluates expr for field f. References to var.x and local.x are checked
// against what is declared; run-time references inside strings are kept verbatim.
func (p *parser) eval(expr hclsyntax.Expression, f string) (cty.Value, bool) {
	runtime, ok := p.checkRefs(expr, f)
	if !ok {
		return cty.NilVal, false
	}
	if runtime {
		return p.evalRuntime(expr, f)
	}
	v, hd := expr.Value(p.ctx)
	if hd.HasErrors() {
		p.addHCL(hd, f)
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		// Only a variable or local that failed (and was reported) is unknown.
		return cty.NilVal, false
	}
	return unmark(v), true
}

// checkRefs validates every variable reference in expr and reports whether any is a
// run-time reference.
func (p *parser) checkRefs(expr hclsyntax.Expression, f string) (runtime, ok bool) {
	ok = true
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		switch {
		case root == "var" || root == "local":
			names := p.vars
			if root == "local" {
				names = p.locals
			}
			if len(tr) < 2 {
				p.errAt(tr.SourceRange(), f, root, "%s must be followed by a name, e.g. %s.image", root, root)
				ok = false
				continue
			}
			step, isAttr := tr[1].(hcl.TraverseAttr)
			if !isAttr {
				p.errAt(tr.SourceRange(), f, p.text(tr.SourceRange()), "write %s.NAME to refer to a %s", root, kindOf(root))
				ok = false
				continue
			}
			if !contains(names, step.Name) {
				none := "; declare it with a variable block"
				if root == "local" {
					none = "; define it in a locals block"
				}
				p.errAt(tr.SourceRange(), f, root+"."+step.Name, "no %s named %q is declared%s", kindOf(root), step.Name, listHint(step.Name, names, "declared", none))
				ok = false
			}
		case isRuntimeRoot(root):
			runtime = true
		default:
			p.errAt(tr.SourceRange(), f, p.text(tr.SourceRange()),
				"unknown reference %q; accepted: var.NAME, local.NAME, or a run-time value inside a string such as \"${attr.kernel.name}\"%s",
				root, suggest(root, append([]string{"var", "local"}, runtimeRoots...)))
			ok = false
		}
	}
	return runtime, ok
}

func kindOf(root string) string {
	if root == "local" {
		return "local value"
	}
	return "variable"
}

func declaredHint(name string, names []string) string {
	return listHint(name, names, "declared", "; declare it with a variable block")
}

// evalRuntime evaluates an expression holding run-time references: strings keep them
// as written, and lists and maps of such strings are evaluated element by element.
func (p *parser) evalRuntime(expr hclsyntax.Expression, f string) (cty.Value, bool) {
	switch e := expr.(type) {
	case *hclsyntax.TupleConsExpr:
		vals := make([]cty.Value, 0, len(e.Exprs))
		for _, item := range e.Exprs {
			v, ok := p.eval(item, f)
			if !ok {
				return cty.NilVal, false
			}
			vals = append(vals, v)
		}
		return cty.TupleVal(vals), true
	case *hclsyntax.ObjectConsExpr:
		attrs := map[string]cty.Value{}
		for _, item := range e.Items {
			k, hd := item.KeyExpr.Value(p.ctx)
			if hd.HasErrors() {
				p.addHCL(hd, f)
				return cty.NilVal, false
			}
			key, err := convert.Convert(unmark(k), cty.String)
			if err != nil || key.IsNull() || !key.IsKnown() {
				p.errAt(item.KeyExpr.Range(), f, p.text(item.KeyExpr.Range()), "a map key must be a string")
				return cty.NilVal, false
			}
			v, ok := p.eval(item.ValueExpr, f)
			if !ok {
				return cty.NilVal, false
			}
			attrs[key.AsString()] = v
		}
		return cty.ObjectVal(attrs), true
	case *hclsyntax.ParenthesesExpr:
		return p.eval(e.Expression, f)
	}
	s, ok := p.renderTemplate(expr, f)
	if !ok {
		return cty.NilVal, false
	}
	return cty.StringVal(s), true
}

// renderTemplate turns a string template holding run-time references into a string,
// evaluating the parts that are known now and keeping the others as "${...}".
func (p *parser) renderTemplate(expr hclsyntax.Expression, f string) (string, bool) {
	var parts []hclsyntax.Expression
	switch e := expr.(type) {
	case *hclsyntax.TemplateWrapExpr:
		parts = []hclsyntax.Expression{e.Wrapped}
	case *hclsyntax.TemplateExpr:
		parts = e.Parts
	default:
		p.errAt(expr.Range(), f, p.text(expr.Range()), "run-time values such as attr.x or NOMAD_x can only be used inside a string, e.g. \"${attr.kernel.name}\"")
		return "", false
	}
	var b strings.Builder
	for _, part := range parts {
		if lit, ok := part.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
			b.WriteString(lit.Val.AsString())
			continue
		}
		hasRuntime := false
		for _, tr := range part.Variables() {
			if isRuntimeRoot(tr.RootName()) {
				hasRuntime = true
			}
		}
		if hasRuntime {
			b.WriteString("${" + p.raw(part.Range()) + "}")
			continue
		}
		v, hd := part.Value(p.ctx)
		if hd.HasErrors() {
			p.addHCL(hd, f)
			return "", false
		}
		s, err := convert.Convert(unmark(v), cty.String)
		if err != nil || s.IsNull() || !s.IsKnown() {
			p.errAt(part.Range(), f, p.text(part.Range()), "cannot be turned into a string")
			return "", false
		}
		b.WriteString(s.AsString())
	}
	return b.String(), true
}

// raw is the exact source text of r in the job file.
func (p *parser) raw(r hcl.Range) string {
	if r.Start.Byte < 0 || r.End.Byte > len(p.src) || r.Start.Byte > r.End.Byte {
		return ""
	}
	return string(p.src[r.Start.Byte:r.End.Byte])
}

// value evaluates attribute name of b, recording its position under path/sub+name.
// It returns false when the attribute is absent, null or bad (bad is reported).
func (p *parser) value(b *hclsyntax.Body, path, sub, name string) (cty.Value, *hclsyntax.Attribute, string, bool) {
	a, ok := b.Attributes[name]
	if !ok {
		return cty.NilVal, nil, "", false
	}
	f := field(path, sub+name)
	p.record(f, a.Expr.Range())
	v, ok := p.eval(a.Expr, f)
	if !ok {
		// Reported already, or unknown because a variable failed: either way,
		// validation should not complain about the field again.
		p.reported[f] = true
		return cty.NilVal, a, f, false
	}
	if v.IsNull() {
		return cty.NilVal, a, f, false
	}
	return v, a, f, true
}

// str sets *dst from a string attribute.
func (p *parser) str(b *hclsyntax.Body, path, sub, name string, dst *string) bool {
	v, a, f, ok := p.value(b, path, sub, name)
	if !ok {
		return false
	}
	s, ok := p.toString(v, a.Expr.Range(), f, "a string")
	if ok {
		*dst = s
	}
	return ok
}

func (p *parser) toString(v cty.Value, r hcl.Range, f, want string) (string, bool) {
	if v.Type().IsPrimitiveType() {
		if s, err := convert.Convert(v, cty.String); err == nil && !s.IsNull() {
			return s.AsString(), true
		}
	}
	p.errAt(r, f, p.text(r), "got %s, want %s", describe(v), want)
	return "", false
}

// integer sets *dst from a whole-number attribute.
func (p *parser) integer(b *hclsyntax.Body, path, sub, name string, dst *int) bool {
	v, a, f, ok := p.value(b, path, sub, name)
	if !ok {
		return false
	}
	r := a.Expr.Range()
	n, err := convert.Convert(v, cty.Number)
	if err != nil || n.IsNull() {
		p.errAt(r, f, p.text(r), "got %s, want a whole number", describe(v))
		return false
	}
	bf := n.AsBigFloat()
	i, acc := bf.Int64()
	if acc != big.Exact {
		p.errAt(r, f, p.text(r), "got %s, want a whole number", bf.Text('g', 10))
		return false
	}
	if i > math.MaxInt32 || i < math.MinInt32 {
		p.errAt(r, f, p.text(r), "got %s, want a whole number between %d and %d", bf.Text('g', 10), math.MinInt32, math.MaxInt32)
		return false
	}
	*dst = int(i)
	return true
}

// boolean sets *dst from a bool attribute.
func (p *parser) boolean(b *hclsyntax.Body, path, sub, name string, dst *bool) bool {
	v, a, f, ok := p.value(b, path, sub, name)
	if !ok {
		return false
	}
	bv, err := convert.Convert(v, cty.Bool)
	if err != nil || bv.IsNull() {
		p.errAt(a.Expr.Range(), f, p.text(a.Expr.Range()), "got %s, want true or false", describe(v))
		return false
	}
	*dst = bv.True()
	return true
}

// duration sets *dst from a duration string such as "30s" or "1h30m".
func (p *parser) duration(b *hclsyntax.Body, path, sub, name string, dst *time.Duration) bool {
	v, a, f, ok := p.value(b, path, sub, name)
	if !ok {
		return false
	}
	r := a.Expr.Range()
	if v.Type() != cty.String {
		p.errAt(r, f, p.text(r), "got %s, want a duration string such as \"30s\", \"5m\" or \"1h30m\"", describe(v))
		return false
	}
	d, err := time.ParseDuration(v.AsString())
	if err != nil {
		p.errAt(r, f, v.AsString(), "%q is not a duration; accepted: a number with a unit ns, us, ms, s, m or h, such as \"30s\" or \"1h30m\"", v.AsString())
		return false
	}
	if d < 0 {
		p.errAt(r, f, v.AsString(), "%q is negative; want a duration of zero or more", v.AsString())
		return false
	}
	*dst = d
	return true
}

// strings sets *dst from a list of strings.
func (p *parser) strList(b *hclsyntax.Body, path, sub, name string, dst *[]string) bool {
	v, a, f, ok := p.value(b, path, sub, name)
	if !ok {
		return false
	}
	r := a.Expr.Range()
	t := v.Type()
	if !(t.IsListType() || t.IsTupleType() || t.IsSetType()) {
		p.errAt(r, f, p.text(r), "got %s, want a list of strings such as [\"a\", \"b\"]", describe(v))
		return false
	}
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		s, ok := p.toString(e, r, f, "a list of strings")
		if !ok {
			return false
		}
		out = append(out, s)
	}
	*dst = out
	return true
}

// stringMap reads `name = { k = "v" }` or a `name { k = "v" }` block (both are
// written in Nomad files for meta and env) into a map of strings.
func (p *parser) stringMap(b *hclsyntax.Body, path, sub, name string) map[string]string {
	out := map[string]string{}
	if v, a, f, ok := p.value(b, path, sub, name); ok {
		r := a.Expr.Range()
		if !v.Type().IsObjectType() && !v.Type().IsMapType() {
			p.errAt(r, f, p.text(r), "got %s, want a map such as { KEY = \"value\" }", describe(v))
			return nil
		}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if s, ok := p.toString(e, r, field(path, sub+name+"."+k.AsString()), "a string"); ok {
				out[k.AsString()] = s
			}
		}
	}
	for _, blk := range blocks(b, name) {
		f := field(path, sub+name)
		p.record(f, blk.DefRange())
		if !p.labels(blk, f, 0, name+" { KEY = \"value\" }") {
			continue
		}
		for _, inner := range blk.Body.Blocks {
			p.errAt(inner.TypeRange, f, inner.Type, "%s holds only KEY = \"value\" pairs, not blocks", name)
		}
		for _, k := range sortedKeys(blk.Body.Attributes) {
			var s string
			if p.str(blk.Body, path, sub+name+".", k, &s) {
				out[k] = s
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// unmark drops cty marks (the sensitive mark of functions, for instance).
func unmark(v cty.Value) cty.Value {
	v, _ = v.UnmarkDeep()
	return v
}

// describe names a value's type and shows it, for "got X, want Y" messages.
func describe(v cty.Value) string {
	t := v.Type()
	switch {
	case v.IsNull():
		return "null"
	case t == cty.String:
		return fmt.Sprintf("the string %q", v.AsString())
	case t == cty.Number:
		return "the number " + v.AsBigFloat().Text('g', 10)
	case t == cty.Bool:
		return fmt.Sprintf("the bool %t", v.True())
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		return "a list"
	case t.IsMapType() || t.IsObjectType():
		return "a map"
	}
	return "a " + t.FriendlyName()
}
