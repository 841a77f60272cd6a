package jobspec

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Options are the inputs of a parse besides the file itself: variable values given
// on the command line (-var name=value, applied last) and variable files
// (-var-file, applied in order, before Vars).
type Options struct {
	Vars     map[string]string
	VarFiles []string
}

// Parse parses an HCL job file, applies variables and defaults, and validates the
// result. The error, when not nil, is a Diagnostics value listing every problem;
// warnings alone do not make an error (use Load to see them).
func Parse(filename string, src []byte, vars map[string]string) (*Job, error) {
	job, diags := Load(filename, src, Options{Vars: vars})
	return job, diags.Err()
}

// ParseFile reads and parses the job file at path, like Parse, with variable files.
func ParseFile(path string, vars map[string]string, varFiles []string) (*Job, error) {
	job, diags := LoadFile(path, Options{Vars: vars, VarFiles: varFiles})
	return job, diags.Err()
}

// LoadFile reads the job file at path and calls Load.
func LoadFile(path string, opts Options) (*Job, Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, Diagnostics{{File: path, Message: fmt.Sprintf("reading job file: %v", err)}}
	}
	return Load(path, src, opts)
}

// Load parses, defaults and validates a job file and returns every diagnostic,
// warnings included, sorted by position. The job is nil when any diagnostic is an
// error. Load is safe for concurrent use; it never panics on any input.
func Load(filename string, src []byte, opts Options) (*Job, Diagnostics) {
	p := &parser{file: filename, src: src, pos: map[string][]hcl.Range{}, patches: map[any]*policyPatch{},
		reported: map[string]bool{}}
	job := p.parse(opts)
	if job != nil {
		// Validate even after decoding errors, to report every problem at once, but
		// skip what a decoding error already said about the same field.
		for _, d := range p.diags.Errors() {
			p.reported[d.Field] = true
		}
		p.canonicalize(job)
		seen := map[string]bool{}
		for _, d := range job.validate() {
			if p.reported[d.Field] {
				continue
			}
			d = p.locate(d)
			// One mistake in a job-level block, inherited by every group, is one problem.
			key := fmt.Sprintf("%d:%d:%s", d.Line, d.Column, d.Message)
			if !seen[key] {
				seen[key] = true
				p.diags = append(p.diags, d)
			}
		}
	}
	p.diags.sortByPosition()
	if p.diags.HasErrors() {
		return nil, p.diags
	}
	return job, p.diags
}

// parser holds the state of one Load call.
type parser struct {
	file  string
	src   []byte
	ctx   *hcl.EvalContext
	diags Diagnostics

	// pos maps a field path (as in Diagnostic.Field) to where it was written, so that
	// validation, which works on the decoded Job, can point into the file.
	pos      map[string][]hcl.Range
	jobRange hcl.Range
	// vars are the declared variable names, for "did you mean" on var.x.
	vars   []string
	locals []string
	// patches are the restart/reschedule/update blocks as written (only the fields
	// set), keyed by the *Job, *Group or *Task they were written in, merged over the
	// defaults by canonicalize.
	patches map[any]*policyPatch
	// reported holds the fields that decoding found wrong (or probably misspelt),
	// so that validation does not report them a second time.
	reported map[string]bool
}

func (p *parser) parse(opts Options) *Job {
	f, hd := hclsyntax.ParseConfig(p.src, p.file, hcl.InitialPos)
	if hd.HasErrors() {
		p.addHCL(hd, "")
		return nil
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		p.errAt(hcl.Range{Filename: p.file}, "", "", "not an HCL native-syntax file")
		return nil
	}
	p.checkBody(body, "", "", spec{blocks: []string{"job", "variable", "locals"}})
	p.declareVars(body, opts)
	p.evalLocals(body)

	var jobBlock *hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type != "job" {
			continue
		}
		if jobBlock != nil {
			p.errAt(b.DefRange(), "job", "", "a file holds exactly one job block; the first is at line %d", jobBlock.DefRange().Start.Line)
			continue
		}
		jobBlock = b
	}
	if jobBlock == nil {
		p.errAt(hcl.Range{Filename: p.file, Start: hcl.InitialPos, End: hcl.InitialPos}, "job", "",
			`no job block; a job file needs one: job "name" { group "g" { task "t" { ... } } }`)
		return nil
	}
	// The job is decoded even when variables failed, to report every problem at
	// once; a failed variable is unknown, and eval stays silent about it.
	return p.decodeJob(jobBlock)
}

// locate fills in the file position of a diagnostic from validation by its field path,
// falling back to the nearest enclosing block that was written.
func (p *parser) locate(d Diagnostic) Diagnostic {
	d.File = p.file
	// A group's policy may come from the job's block (reschedule, update): point
	// there when the group has no block of its own.
	if _, own := p.pos[d.Field]; !own && strings.HasPrefix(d.Field, "group ") {
		if _, sub, ok := strings.Cut(d.Field, "\": "); ok {
			if rs := p.pos[sub]; len(rs) > 0 && (strings.HasPrefix(sub, "reschedule.") || strings.HasPrefix(sub, "update.")) {
				d.Line, d.Column = rs[0].Start.Line, rs[0].Start.Column
				return d
			}
		}
	}
	for f := d.Field; ; f = parentField(f) {
		if rs, ok := p.pos[f]; ok && len(rs) > 0 {
			r := rs[0]
			if d.last {
				r = rs[len(rs)-1]
			}
			d.Line, d.Column = r.Start.Line, r.Start.Column
			return d
		}
		if f == "" {
			break
		}
	}
	d.Line, d.Column = p.jobRange.Start.Line, p.jobRange.Start.Column
	return d
}

// record remembers where field f was written.
func (p *parser) record(f string, r hcl.Range) { p.pos[f] = append(p.pos[f], r) }

func (p *parser) add(sev Severity, r hcl.Range, f, value, format string, args ...any) {
	p.diags = append(p.diags, Diagnostic{
		Severity: sev, File: p.file, Line: r.Start.Line, Column: r.Start.Column,
		Field: f, Value: value, Message: fmt.Sprintf(format, args...),
	})
}

func (p *parser) errAt(r hcl.Range, f, value, format string, args ...any) {
	p.add(SeverityError, r, f, value, format, args...)
}

func (p *parser) warnAt(r hcl.Range, f, value, format string, args ...any) {
	p.add(SeverityWarning, r, f, value, format, args...)
}

// addHCL converts diagnostics from the hcl library.
func (p *parser) addHCL(hd hcl.Diagnostics, f string) {
	for _, d := range hd {
		sev := SeverityError
		if d.Severity == hcl.DiagWarning {
			sev = SeverityWarning
		}
		r := hcl.Range{Filename: p.file}
		if d.Subject != nil {
			r = *d.Subject
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + strings.TrimSuffix(d.Detail, ".")
		}
		file := r.Filename
		if file == "" {
			file = p.file
		}
		p.diags = append(p.diags, Diagnostic{
			Severity: sev, File: file, Line: r.Start.Line, Column: r.Start.Column,
			Field: f, Value: p.text(r), Message: msg,
		})
	}
}

// text returns the source text of r in the job file, shortened for messages.
func (p *parser) text(r hcl.Range) string {
	if r.Filename != p.file || r.Start.Byte < 0 || r.End.Byte > len(p.src) || r.Start.Byte >= r.End.Byte {
		return ""
	}
	s := strings.TrimSpace(string(p.src[r.Start.Byte:r.End.Byte]))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// spec lists what a block accepts. ignored holds Nomad settings that Shoal accepts
// and ignores with a warning (the value is the reason), so a Nomad file runs unchanged.
// unsupported holds Nomad settings that would change what the job does if ignored:
// they are errors that say so.
type spec struct {
	attrs       []string
	blocks      []string
	ignored     map[string]string
	unsupported map[string]string
}

// checkBody reports every attribute and block of b that spec does not accept, with
// a "did you mean" suggestion, and warns about ignored Nomad settings.
func (p *parser) checkBody(b *hclsyntax.Body, path, sub string, s spec) {
	known := append(append([]string{}, s.attrs...), s.blocks...)
	for _, n := range sortedKeys(b.Attributes) {
		a := b.Attributes[n]
		f := field(path, sub+n)
		switch {
		case contains(s.attrs, n):
		case contains(s.blocks, n):
			p.errAt(a.NameRange, f, p.text(a.Expr.Range()), "%s is a block, not an attribute; write %s { ... }", n, n)
		case s.ignored[n] != "":
			p.warnAt(a.NameRange, f, p.text(a.Expr.Range()), "ignored: %s", s.ignored[n])
		case s.unsupported[n] != "":
			p.errAt(a.NameRange, f, p.text(a.Expr.Range()), "not supported: %s", s.unsupported[n])
		default:
			p.errAt(a.NameRange, f, n, "unknown attribute %q%s", n, hint(n, known))
			if s := closest(n, known); s != "" {
				p.reported[field(path, sub+s)] = true
			}
		}
	}
	for _, blk := range b.Blocks {
		f := field(path, sub+blk.Type)
		switch {
		case contains(s.blocks, blk.Type):
		case contains(s.attrs, blk.Type):
			p.errAt(blk.TypeRange, f, "", "%s is an attribute, not a block; write %s = ...", blk.Type, blk.Type)
		case s.ignored[blk.Type] != "":
			p.warnAt(blk.TypeRange, f, "", "ignored: %s", s.ignored[blk.Type])
		case s.unsupported[blk.Type] != "":
			p.errAt(blk.TypeRange, f, "", "not supported: %s", s.unsupported[blk.Type])
		case blk.Type == "dynamic":
			p.errAt(blk.TypeRange, f, "", "dynamic blocks are not supported; write the blocks out")
		default:
			p.errAt(blk.TypeRange, f, blk.Type, "unknown block %q%s", blk.Type, hint(blk.Type, known))
		}
	}
}

// hint is a suggestion if one is close, else the list of what is accepted.
func hint(got string, known []string) string {
	return listHint(got, known, "accepted", "; nothing is accepted here")
}

// listHint is a suggestion for got if one of known is close, else
// "; <label>: known..." or none when known is empty.
func listHint(got string, known []string, label, none string) string {
	if s := suggest(got, known); s != "" {
		return s
	}
	if len(known) == 0 {
		return none
	}
	set := map[string]bool{}
	for _, k := range known {
		set[k] = true
	}
	return "; " + label + ": " + strings.Join(sortedKeys(set), ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// blocks returns the blocks of type typ in b.
func blocks(b *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, blk := range b.Blocks {
		if blk.Type == typ {
			out = append(out, blk)
		}
	}
	return out
}

// single returns the one block of type typ in b (nil if none), reporting repeats.
func (p *parser) single(b *hclsyntax.Body, path, sub, typ string) *hclsyntax.Block {
	bs := blocks(b, typ)
	if len(bs) == 0 {
		return nil
	}
	for _, extra := range bs[1:] {
		p.errAt(extra.TypeRange, field(path, sub+typ), "", "only one %s block is allowed here; the first is at line %d", typ, bs[0].DefRange().Start.Line)
	}
	return bs[0]
}

// labels checks that blk has exactly n labels; usage shows the expected form.
func (p *parser) labels(blk *hclsyntax.Block, f string, n int, usage string) bool {
	if len(blk.Labels) == n {
		return true
	}
	p.errAt(blk.DefRange(), f, strings.Join(blk.Labels, " "), "%s block needs %d label(s), got %d; write %s", blk.Type, n, len(blk.Labels), usage)
	return false
}
