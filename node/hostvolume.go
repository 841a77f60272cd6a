package node

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// hostVolumeNameRE is what a host volume's name may hold: it travels in gossip and
// jobs name it in source.
var hostVolumeNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// parseHostVolumes reads peer.hcl's host_volume "name" { path = "/abs/dir"
// read_only = bool } blocks (Nomad's client host_volume) over base. Every error names
// the file, line and column, the volume, the field and its value.
func parseHostVolumes(body *hclsyntax.Body, base map[string]placement.HostVolume) (map[string]placement.HostVolume, error) {
	out := maps.Clone(base)
	first := map[string]hcl.Range{}
	for _, b := range body.Blocks {
		if b.Type != "host_volume" {
			continue
		}
		if len(b.Labels) != 1 {
			return nil, fmt.Errorf("%s: host_volume needs one label, its name, got %d; write host_volume \"data\" { path = \"/srv/data\" }", pos(b.DefRange()), len(b.Labels))
		}
		name := b.Labels[0]
		if !hostVolumeNameRE.MatchString(name) {
			return nil, fmt.Errorf("%s: host_volume %q: the name must be 1 to 64 letters, digits, '_', '.' or '-'", pos(b.LabelRanges[0]), name)
		}
		if r, dup := first[name]; dup {
			return nil, fmt.Errorf("%s: host_volume %q is declared twice; the first is at line %d", pos(b.DefRange()), name, r.Start.Line)
		}
		first[name] = b.DefRange()
		if len(b.Body.Blocks) > 0 {
			nb := b.Body.Blocks[0]
			return nil, fmt.Errorf("%s: host_volume %q: unknown block %q (accepted: path, read_only)", pos(nb.TypeRange), name, nb.Type)
		}
		var hv placement.HostVolume
		for attrName, a := range b.Body.Attributes {
			switch attrName {
			case "path":
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || v.Type() != cty.String || v.IsNull() {
					return nil, fmt.Errorf("%s: host_volume %q: path: got %s, want a string such as \"/srv/data\"", pos(a.Expr.Range()), name, describeValue(v, diags))
				}
				hv.Path = v.AsString()
			case "read_only":
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || v.Type() != cty.Bool || v.IsNull() {
					return nil, fmt.Errorf("%s: host_volume %q: read_only: got %s, want true or false", pos(a.Expr.Range()), name, describeValue(v, diags))
				}
				hv.ReadOnly = v.True()
			default:
				return nil, fmt.Errorf("%s: host_volume %q: unknown field %q (accepted: path, read_only)", pos(a.NameRange), name, attrName)
			}
		}
		at := b.DefRange()
		if a, ok := b.Body.Attributes["path"]; ok {
			at = a.Expr.Range()
		}
		if err := checkHostVolume(name, hv.Path); err != nil {
			return nil, fmt.Errorf("%s: host_volume %q: %w", pos(at), name, err)
		}
		hv.Path = filepath.Clean(hv.Path)
		if out == nil {
			out = map[string]placement.HostVolume{}
		}
		out[name] = hv
	}
	return out, nil
}

// describeValue names a config value for an error: a string quoted, a number as
// written, else its type.
func describeValue(v cty.Value, diags hcl.Diagnostics) string {
	switch {
	case diags.HasErrors():
		return "an expression that cannot be evaluated here (" + diags[0].Summary + ")"
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return fmt.Sprintf("the string %q", v.AsString())
	case v.Type() == cty.Number:
		return "the number " + v.AsBigFloat().Text('g', -1)
	case v.Type() == cty.Bool:
		return fmt.Sprint(v.True())
	}
	return v.Type().FriendlyName()
}

// pos is where r starts, as file:line:column.
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// checkHostVolume checks a host volume's path: an absolute path to a directory that
// exists (Nomad's client refuses to start otherwise too).
func checkHostVolume(name, path string) error {
	if !hostVolumeNameRE.MatchString(name) {
		return fmt.Errorf("name %q: want 1 to 64 letters, digits, '_', '.' or '-'", name)
	}
	switch {
	case path == "":
		return errors.New(`path: "" is not valid: the absolute path of a directory on this host is required, e.g. path = "/srv/data"`)
	case !filepath.IsAbs(path):
		return fmt.Errorf("path: %q is not valid: want an absolute path, e.g. %q", path, "/"+path)
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("path: %q does not exist: create the directory first", path)
	case err != nil:
		return fmt.Errorf("path: %q: %w", path, err)
	case !st.IsDir():
		return fmt.Errorf("path: %q is not a directory: a host volume is a directory", path)
	}
	return nil
}

// taskMounts turns a task's volume_mounts into the driver's mounts of this peer's
// host volumes. A mount is read-only when the volume_mount, the group's volume or
// the peer's host_volume says so. The bidder checked that the peer has every source
// (placement's volumes stage); a source missing here is a permanent error.
func taskMounts(g *jobspec.Group, t *jobspec.Task, vols map[string]placement.HostVolume) ([]exec.Mount, error) {
	var out []exec.Mount
	for _, m := range t.VolumeMounts {
		req, ok := g.Volumes[m.Volume]
		if !ok {
			return nil, fmt.Errorf("task %q: volume_mount names volume %q, which group %q does not declare", t.Name, m.Volume, g.Name)
		}
		hv, ok := vols[req.Source]
		if !ok {
			return nil, fmt.Errorf("task %q: volume %q needs host volume %q, which this peer does not have", t.Name, m.Volume, req.Source)
		}
		out = append(out, exec.Mount{Source: hv.Path, Destination: m.Destination,
			ReadOnly: m.ReadOnlyIn(g) || hv.ReadOnly, Propagation: m.PropagationMode})
	}
	return out, nil
}

// apiHostVolumes is a peer's host volumes as the API shows them (nil for none).
func apiHostVolumes(vols map[string]placement.HostVolume) map[string]api.HostVolume {
	if len(vols) == 0 {
		return nil
	}
	out := make(map[string]api.HostVolume, len(vols))
	for name, v := range vols {
		out[name] = api.HostVolume{Name: name, Path: v.Path, ReadOnly: v.ReadOnly}
	}
	return out
}
