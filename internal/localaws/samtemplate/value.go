package samtemplate

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Intrinsic is a CloudFormation intrinsic function call such as !Ref or
// Fn::GetAtt, in short-tag or long (single-key map) form alike.
//
// Name is the long name ("Ref", "Condition", or "Fn::Sub", "Fn::GetAtt"...).
// Arg is the decoded argument; the short !GetAtt form "Res.Attr" is normalised
// to the long form []any{"Res", "Attr"} so both spellings compare equal.
type Intrinsic struct {
	Name string
	Arg  any
}

// Ref returns the intrinsic !Ref logicalID, for comparisons.
func Ref(logicalID string) Intrinsic { return Intrinsic{Name: "Ref", Arg: logicalID} }

// GetAtt returns the intrinsic !GetAtt logicalID.attribute, for comparisons.
func GetAtt(logicalID, attribute string) Intrinsic {
	return Intrinsic{Name: "Fn::GetAtt", Arg: []any{logicalID, attribute}}
}

// If returns the intrinsic !If [condition, then, otherwise], for comparisons.
func If(condition string, then, otherwise any) Intrinsic {
	return Intrinsic{Name: "Fn::If", Arg: []any{condition, then, otherwise}}
}

// Sub returns the intrinsic !Sub with a plain string argument, for comparisons.
func Sub(format string) Intrinsic { return Intrinsic{Name: "Fn::Sub", Arg: format} }

// RefTarget returns the logical id or parameter that v references with !Ref.
func RefTarget(v any) (string, bool) {
	in, ok := v.(Intrinsic)
	if !ok || in.Name != "Ref" {
		return "", false
	}
	s, ok := in.Arg.(string)
	return s, ok
}

// GetAttTarget returns the logical id and attribute that v reads with !GetAtt.
func GetAttTarget(v any) (logicalID, attribute string, ok bool) {
	in, ok := v.(Intrinsic)
	if !ok || in.Name != "Fn::GetAtt" {
		return "", "", false
	}
	parts, ok := in.Arg.([]any)
	if !ok || len(parts) != 2 {
		return "", "", false
	}
	logicalID, ok1 := parts[0].(string)
	attribute, ok2 := parts[1].(string)
	return logicalID, attribute, ok1 && ok2
}

func (in Intrinsic) String() string { return fmt.Sprintf("{%s: %v}", in.Name, in.Arg) }

// maxNodes bounds how many nodes one document may expand to, so aliases
// cannot blow a small input up exponentially.
const maxNodes = 100_000

// decoder turns YAML nodes into plain Go values (string, bool, int, float64,
// nil, []any, map[string]any) with intrinsic functions as Intrinsic.
type decoder struct {
	expanding map[*yaml.Node]bool // aliases being expanded, to refuse cycles
	nodes     int
}

func decodeDocument(n *yaml.Node) (any, error) {
	d := &decoder{expanding: map[*yaml.Node]bool{}}
	return d.decode(n)
}

func (d *decoder) decode(n *yaml.Node) (any, error) {
	if d.nodes++; d.nodes > maxNodes {
		return nil, fmt.Errorf("document expands to more than %d nodes", maxNodes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return d.decode(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil || d.expanding[n.Alias] {
			return nil, fmt.Errorf("line %d: recursive alias *%s", n.Line, n.Value)
		}
		d.expanding[n.Alias] = true
		defer delete(d.expanding, n.Alias)
		return d.decode(n.Alias)
	}
	if name, ok := shortTagName(n.Tag); ok {
		return d.decodeShortTag(name, n)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := d.decode(c)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			val, err := d.decode(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.Value, err)
			}
			m[k.Value] = val
		}
		if in, ok := longIntrinsic(m); ok {
			return in, nil
		}
		return m, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node kind %d", n.Line, n.Kind)
}

// shortTagName maps a local tag such as !GetAtt to its long name.
func shortTagName(tag string) (string, bool) {
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return "", false
	}
	name := tag[1:]
	switch name {
	case "Ref", "Condition":
		return name, true
	}
	return "Fn::" + name, true
}

func (d *decoder) decodeShortTag(name string, n *yaml.Node) (any, error) {
	inner := *n
	switch n.Kind {
	case yaml.ScalarNode:
		// Intrinsic scalar arguments are always strings: !Ref 123 names "123".
		inner.Tag = "!!str"
	case yaml.SequenceNode:
		inner.Tag = "!!seq"
	case yaml.MappingNode:
		inner.Tag = "!!map"
	}
	arg, err := d.decode(&inner)
	if err != nil {
		return nil, fmt.Errorf("!%s: %w", strings.TrimPrefix(name, "Fn::"), err)
	}
	return normalise(Intrinsic{Name: name, Arg: arg}), nil
}

func longIntrinsic(m map[string]any) (Intrinsic, bool) {
	if len(m) != 1 {
		return Intrinsic{}, false
	}
	for k, v := range m {
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return normalise(Intrinsic{Name: k, Arg: v}), true
		}
	}
	return Intrinsic{}, false
}

func normalise(in Intrinsic) Intrinsic {
	if in.Name == "Fn::GetAtt" {
		if s, ok := in.Arg.(string); ok {
			if res, attr, found := strings.Cut(s, "."); found {
				in.Arg = []any{res, attr}
			}
		}
	}
	return in
}

// Accessors used while building typed views. They report what was expected
// so a malformed template fails with a readable error.

func asMap(v any, what string) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a mapping, got %T", what, v)
	}
	return m, nil
}

func asList(v any, what string) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list, got %T", what, v)
	}
	return l, nil
}

func asString(v any, what string) (string, error) {
	switch s := v.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	}
	return "", fmt.Errorf("%s: want a string, got %T", what, v)
}

// asStrings returns nil for an absent value: AWS rejects empty lists where
// it accepts omitted ones (such as Projection.NonKeyAttributes).
func asStrings(v any, what string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok {
		return []string{s}, nil
	}
	l, err := asList(v, what)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		s, err := asString(e, fmt.Sprintf("%s[%d]", what, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func asInt(v any, what string) (int, error) {
	switch n := v.(type) {
	case nil:
		return 0, nil
	case int:
		return n, nil
	case float64:
		if n == float64(int(n)) {
			return int(n), nil
		}
	case string:
		i, err := strconv.Atoi(n)
		if err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: want an integer, got %v", what, v)
}

func asBool(v any, what string) (bool, error) {
	switch b := v.(type) {
	case nil:
		return false, nil
	case bool:
		return b, nil
	case string:
		if p, err := strconv.ParseBool(b); err == nil {
			return p, nil
		}
	}
	return false, fmt.Errorf("%s: want a boolean, got %v", what, v)
}

// mergeGlobals applies SAM's Globals rules: maps merge key by key, lists are
// additive (globals first), and any other local value replaces the global one.
func mergeGlobals(global, local any) any {
	switch g := global.(type) {
	case map[string]any:
		l, ok := local.(map[string]any)
		if !ok {
			break
		}
		out := make(map[string]any, len(g)+len(l))
		for k, v := range g {
			out[k] = v
		}
		for k, v := range l {
			if gv, ok := out[k]; ok {
				out[k] = mergeGlobals(gv, v)
			} else {
				out[k] = v
			}
		}
		return out
	case []any:
		l, ok := local.([]any)
		if !ok {
			break
		}
		out := make([]any, 0, len(g)+len(l))
		return append(append(out, g...), l...)
	}
	if local == nil {
		return global
	}
	return local
}
