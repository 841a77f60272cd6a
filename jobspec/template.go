package jobspec

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"text/template"
)

// TemplateFuncs names the functions a template block's data may call, beside Go's
// text/template built-ins: env "NAME" (the task's environment, NOMAD_* included),
// nomadService "name" (a service's healthy instances: .Address, .Port, .Tags, ...),
// nomadServices (every service: .Name, .Tags), and consul-template's string helpers.
// The peer implements them (node); here they only let a job's templates be
// checked when it is parsed.
var TemplateFuncs = []string{"env", "nomadService", "nomadServices", "toJSON", "toUpper", "toLower",
	"split", "join", "replaceAll", "trimSpace", "contains", "parseInt"}

// unavailableFuncs are consul-template functions that need Consul or Vault.
var unavailableFuncs = []string{"key", "keyOrDefault", "ls", "tree", "secret", "secrets", "service", "services",
	"connect", "caRoots", "caLeaf", "datacenters", "node", "nodes", "pkiCert"}

// ParseTemplate parses a template's data with its delimiters, against the names in
// funcs (TemplateFuncs with stubs when funcs is nil).
func ParseTemplate(t Template, funcs template.FuncMap) (*template.Template, error) {
	if funcs == nil {
		funcs = template.FuncMap{}
		for _, name := range TemplateFuncs {
			funcs[name] = func(...any) any { return nil }
		}
	}
	tm, err := template.New(t.Destination).Delims(t.LeftDelim, t.RightDelim).Funcs(funcs).Parse(t.Data)
	if err != nil {
		for _, name := range unavailableFuncs {
			if strings.Contains(err.Error(), fmt.Sprintf("function %q not defined", name)) {
				return nil, fmt.Errorf("%w (%s needs Consul or Vault, which Shoal does not use; available: env, nomadService, nomadServices and string helpers)", err, name)
			}
		}
		return nil, err
	}
	return tm, nil
}

// TemplateMode is the file mode of a template's destination.
func TemplateMode(t Template) uint32 {
	if m, err := strconv.ParseUint(t.Perms, 8, 32); err == nil && t.Perms != "" {
		return uint32(m)
	}
	return 0o644
}

// changeModes are what a task's template can do when it re-renders with new content.
var changeModes = []string{"noop", "restart", "signal", "script"}

// templates checks a task's template blocks.
func (v *validator) templates(taskPath string, ts []Template) {
	seen := map[string]bool{}
	for i, t := range ts {
		f := func(name string) string { return field(taskPath, fmt.Sprintf("template[%d].%s", i, name)) }
		if t.Data == "" {
			v.errf(f("data"), "", "a template needs data, the template text (source files are not supported)")
		}
		dest := path.Clean(t.Destination)
		switch {
		case t.Destination == "":
			v.errf(f("destination"), "", "a template needs a destination, e.g. destination = \"local/app.conf\"")
		case path.IsAbs(t.Destination) || !(strings.HasPrefix(dest, "local/") || strings.HasPrefix(dest, "secrets/")):
			v.errf(f("destination"), quote(t.Destination), "want a file under local/ or secrets/ of the task directory, e.g. \"local/app.conf\"")
		case seen[dest]:
			v.errf(f("destination"), quote(t.Destination), "another template of the task already renders to %s", dest)
		}
		seen[dest] = true
		if m, err := strconv.ParseUint(t.Perms, 8, 32); t.Perms != "" && (err != nil || m > 0o777) {
			v.errf(f("perms"), quote(t.Perms), "want an octal file mode such as \"0644\"")
		}
		if (t.LeftDelim == "") != (t.RightDelim == "") {
			v.errf(f("left_delimiter"), quote(t.LeftDelim+" "+t.RightDelim), "set both left_delimiter and right_delimiter, or neither")
		}
		v.oneOf(f("change_mode"), "change_mode", t.ChangeMode, changeModes)
		switch cs := t.ChangeScript; {
		case t.ChangeMode == "script" && (cs == nil || cs.Command == ""):
			v.errf(f("change_script"), "", "change_mode = \"script\" needs change_script { command = \"/path/to/program\" }, run inside the task")
		case t.ChangeMode == "script":
			if cs.Timeout <= 0 {
				v.errf(f("change_script.timeout"), cs.Timeout, "a change_script needs a positive timeout, such as \"5s\"")
			}
		case cs != nil && contains(changeModes, t.ChangeMode):
			v.errf(f("change_script"), "", "change_script only runs with change_mode = \"script\" (change_mode is %q)", t.ChangeMode)
		}
		switch {
		case t.ChangeMode == "signal" && t.ChangeSignal == "":
			v.errf(f("change_signal"), "", "change_mode = \"signal\" needs change_signal, the signal to send, e.g. \"SIGHUP\"")
		case t.ChangeMode == "signal":
			v.oneOf(f("change_signal"), "change_signal", t.ChangeSignal, signals)
		case t.ChangeSignal != "" && contains(changeModes, t.ChangeMode):
			v.errf(f("change_signal"), quote(t.ChangeSignal), "change_signal is only sent with change_mode = \"signal\" (change_mode is %q)", t.ChangeMode)
		}
		v.nonNegative(f("splay"), t.Splay)
		if t.Data != "" {
			if _, err := ParseTemplate(t, nil); err != nil {
				v.errf(f("data"), "", "the template does not parse: %v", err)
			}
		}
	}
}
