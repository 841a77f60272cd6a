package jobspec

import (
	"fmt"
	"os"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// variable is a declared `variable "name" { type = ..., default = ... }`.
type variable struct {
	name  string
	typ   cty.Type
	value cty.Value // NilVal until set by a default, a var file or -var
	rng   hcl.Range
}

// declareVars reads the variable blocks, applies var files then -var values over
// their defaults, and builds the evaluation context.
func (p *parser) declareVars(body *hclsyntax.Body, opts Options) {
	p.ctx = &hcl.EvalContext{Functions: functions, Variables: map[string]cty.Value{
		"var": cty.EmptyObjectVal, "local": cty.EmptyObjectVal,
	}}
	funcsOnly := &hcl.EvalContext{Functions: functions}
	declared := map[string]*variable{}
	var order []string
	for _, blk := range blocks(body, "variable") {
		f := "variable"
		if !p.labels(blk, f, 1, `variable "name" { default = ... }`) {
			continue
		}
		name := blk.Labels[0]
		f = fmt.Sprintf("variable %q", name)
		p.record(f, blk.DefRange())
		if !hclsyntax.ValidIdentifier(name) {
			p.errAt(blk.LabelRanges[0], f, name, "%q is not a valid variable name; use letters, digits, '_' and '-', starting with a letter", name)
			continue
		}
		if prev, dup := declared[name]; dup {
			p.errAt(blk.DefRange(), f, name, "variable %q is declared twice; the first is at line %d", name, prev.rng.Start.Line)
			continue
		}
		p.checkBody(blk.Body, f, "", spec{attrs: []string{"type", "default", "description", "sensitive"},
			ignored: map[string]string{"validation": "variable validation rules are not checked by Shoal"}})
		v := &variable{name: name, typ: cty.DynamicPseudoType, rng: blk.DefRange()}
		if a, ok := blk.Body.Attributes["type"]; ok {
			t, hd := typeexpr.TypeConstraint(a.Expr)
			if hd.HasErrors() {
				p.addHCL(hd, field(f, "type"))
			} else {
				v.typ = t
			}
		}
		if a, ok := blk.Body.Attributes["default"]; ok {
			// A bad default is reported once; the variable is then unknown (DynamicVal).
			v.value = cty.DynamicVal
			if val, ok := p.evalConst(a.Expr, funcsOnly, field(f, "default")); ok {
				if out := p.convertVar(val, v, a.Expr.Range(), field(f, "default")); out != cty.NilVal {
					v.value = out
				}
			}
		}
		declared[name] = v
		order = append(order, name)
	}
	p.vars = order

	for _, path := range opts.VarFiles {
		p.applyVarFile(path, declared, funcsOnly)
	}
	for _, k := range sortedKeys(opts.Vars) {
		p.applyCLIVar(k, opts.Vars[k], declared, funcsOnly)
	}

	vals := map[string]cty.Value{}
	for _, name := range order {
		v := declared[name]
		if v.value == cty.NilVal {
			p.errAt(v.rng, fmt.Sprintf("variable %q", name), "", "variable %q has no default and no value; set it with -var %s=VALUE or in a -var-file", name, name)
			v.value = cty.DynamicVal
		}
		vals[name] = v.value
	}
	p.ctx.Variables["var"] = cty.ObjectVal(vals)
}

// evalConst evaluates an expression that may call functions but not refer to anything.
func (p *parser) evalConst(expr hcl.Expression, ctx *hcl.EvalContext, f string) (cty.Value, bool) {
	for _, tr := range expr.Variables() {
		p.errAt(tr.SourceRange(), f, tr.RootName(), "a variable value cannot refer to %q; it must be a constant", tr.RootName())
		return cty.NilVal, false
	}
	v, hd := expr.Value(ctx)
	if hd.HasErrors() {
		p.addHCL(hd, f)
		return cty.NilVal, false
	}
	return unmark(v), true
}

// convertVar converts val to the variable's declared type, reporting a mismatch.
func (p *parser) convertVar(val cty.Value, v *variable, r hcl.Range, f string) cty.Value {
	out, err := convert.Convert(val, v.typ)
	if err != nil {
		p.add(SeverityError, r, f, p.text(r), "variable %q is of type %s: %s", v.name, typeexpr.TypeString(v.typ), err)
		return cty.NilVal
	}
	return out
}

func (p *parser) applyVarFile(path string, declared map[string]*variable, ctx *hcl.EvalContext) {
	src, err := os.ReadFile(path)
	if err != nil {
		p.diags = append(p.diags, Diagnostic{File: path, Field: "-var-file", Value: path, Message: fmt.Sprintf("reading variable file: %v", err)})
		return
	}
	// A var file is a separate source: positions and values point into it.
	sub := &parser{file: path, src: src, pos: map[string][]hcl.Range{}, reported: map[string]bool{}}
	f, hd := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if hd.HasErrors() {
		sub.addHCL(hd, "")
		p.diags = append(p.diags, sub.diags...)
		return
	}
	body := f.Body.(*hclsyntax.Body)
	for _, blk := range body.Blocks {
		sub.errAt(blk.TypeRange, blk.Type, "", "a variable file holds only NAME = value lines, not blocks")
	}
	for _, n := range sortedKeys(body.Attributes) {
		a := body.Attributes[n]
		v, ok := declared[n]
		if !ok {
			sub.warnAt(a.NameRange, n, "", "the job declares no variable %q%s; the value is ignored", n, declaredHint(n, p.vars))
			continue
		}
		if val, ok := sub.evalConst(a.Expr, ctx, n); ok {
			if out := sub.convertVar(val, v, a.Expr.Range(), n); out != cty.NilVal {
				v.value = out
			}
		}
	}
	p.diags = append(p.diags, sub.diags...)
}

// applyCLIVar sets a variable from -var name=value. As in Nomad, the value is taken
// literally for string variables and parsed as an HCL expression for other types.
func (p *parser) applyCLIVar(name, raw string, declared map[string]*variable, ctx *hcl.EvalContext) {
	f := "-var " + name
	v, ok := declared[name]
	if !ok {
		p.diags = append(p.diags, Diagnostic{File: p.file, Field: f, Value: raw,
			Message: fmt.Sprintf("the job declares no variable %q%s", name, declaredHint(name, p.vars))})
		return
	}
	var val cty.Value
	if v.typ == cty.String || v.typ == cty.DynamicPseudoType {
		val = cty.StringVal(raw)
	} else {
		expr, hd := hclsyntax.ParseExpression([]byte(raw), f, hcl.InitialPos)
		if hd.HasErrors() {
			p.diags = append(p.diags, Diagnostic{File: p.file, Field: f, Value: raw,
				Message: fmt.Sprintf("%q is not a valid %s value: %s", raw, typeexpr.TypeString(v.typ), hd[0].Summary)})
			return
		}
		var diags hcl.Diagnostics
		val, diags = expr.Value(ctx)
		if diags.HasErrors() || len(expr.Variables()) > 0 {
			p.diags = append(p.diags, Diagnostic{File: p.file, Field: f, Value: raw,
				Message: fmt.Sprintf("%q is not a constant %s value", raw, typeexpr.TypeString(v.typ))})
			return
		}
	}
	out, err := convert.Convert(val, v.typ)
	if err != nil {
		p.diags = append(p.diags, Diagnostic{File: p.file, Field: f, Value: raw,
			Message: fmt.Sprintf("variable %q is of type %s: %s", name, typeexpr.TypeString(v.typ), err)})
		return
	}
	v.value = out
}

// evalLocals evaluates `locals { ... }` blocks; a local may use variables, functions
// and other locals, in any order.
func (p *parser) evalLocals(body *hclsyntax.Body) {
	pending := map[string]*hclsyntax.Attribute{}
	for _, blk := range blocks(body, "locals") {
		if !p.labels(blk, "locals", 0, "locals { name = value }") {
			continue
		}
		for _, inner := range blk.Body.Blocks {
			p.errAt(inner.TypeRange, "locals", inner.Type, "locals holds only name = value lines, not blocks")
		}
		for n, a := range blk.Body.Attributes {
			if prev, dup := pending[n]; dup {
				p.errAt(a.NameRange, "local."+n, n, "local %q is defined twice; the first is at line %d", n, prev.NameRange.Start.Line)
				continue
			}
			pending[n] = a
			p.locals = append(p.locals, n)
		}
	}
	sort.Strings(p.locals)
	vals := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		for _, n := range p.locals {
			a, ok := pending[n]
			if !ok || !p.localReady(a, pending) {
				continue
			}
			delete(pending, n)
			progress = true
			p.ctx.Variables["local"] = cty.ObjectVal(vals)
			if v, ok := p.eval(a.Expr, "local."+n); ok {
				vals[n] = v
			} else {
				vals[n] = cty.DynamicVal
			}
		}
		if !progress {
			for _, n := range p.locals {
				if a, ok := pending[n]; ok {
					p.errAt(a.NameRange, "local."+n, n, "local %q refers to itself through other locals", n)
				}
			}
			break
		}
	}
	p.ctx.Variables["local"] = cty.ObjectVal(vals)
}

// localReady reports whether every local that a refers to has been evaluated.
func (p *parser) localReady(a *hclsyntax.Attribute, pending map[string]*hclsyntax.Attribute) bool {
	for _, tr := range a.Expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		if step, ok := tr[1].(hcl.TraverseAttr); ok {
			if _, waiting := pending[step.Name]; waiting {
				return false
			}
		}
	}
	return true
}
