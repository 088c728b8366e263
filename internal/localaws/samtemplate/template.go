// Package samtemplate reads hubsend's AWS SAM template (template.yaml), the
// single source of truth for the functions, their events, environment and
// policies, the DynamoDB table and the SQS queues.
//
// Tests assert the template through it, and the local stack builds its
// emulated tables, queues, routes and schedules from it, so what runs locally
// is what deploys. CloudFormation short tags (!Ref, !GetAtt, !Sub...) decode
// into [Intrinsic] values rather than failing or being lost.
package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// FileName is the template's file name at the module root.
const FileName = "template.yaml"

// Resource types the typed views are built from.
const (
	TypeFunction = "AWS::Serverless::Function"
	TypeHTTPAPI  = "AWS::Serverless::HttpApi"
	TypeTable    = "AWS::DynamoDB::Table"
	TypeQueue    = "AWS::SQS::Queue"
)

// Template is a parsed SAM template: the raw sections plus typed views of the
// resources hubsend cares about, keyed by logical id.
type Template struct {
	Transform  any
	Parameters map[string]Parameter
	Conditions map[string]any
	// Globals holds each Globals section (Function, HttpApi...) as a mapping.
	Globals   map[string]map[string]any
	Resources map[string]Resource
	Outputs   map[string]Output

	Functions map[string]Function
	HTTPAPIs  map[string]HTTPAPI
	Tables    map[string]Table
	Queues    map[string]Queue
}

// Parameter is one template parameter.
type Parameter struct {
	Type        string
	Default     any // nil when the parameter has no default
	HasDefault  bool
	Description string
	Properties  map[string]any
}

// Resource is one raw resource.
type Resource struct {
	LogicalID      string
	Type           string
	Condition      string
	DeletionPolicy string
	// UpdateReplacePolicy is what CloudFormation does with the old physical
	// resource when an update replaces it ("Retain", "Delete"...).
	UpdateReplacePolicy string
	Metadata            map[string]any
	Properties          map[string]any
}

// Output is one template output.
type Output struct {
	Description string
	Value       any
}

// Locate walks up from dir to the module root (the nearest directory holding
// go.mod) and returns the path of its template.yaml.
func Locate(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("locate %s: %w", FileName, err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, FileName), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("locate %s: no go.mod in %s or any parent", FileName, dir)
		}
	}
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load template %s: %w", path, err)
	}
	return t, nil
}

// Parse parses a SAM template.
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	raw, err := decodeDocument(&doc)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	root, err := asMap(raw, "template")
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if root == nil {
		return nil, errors.New("parse template: empty document")
	}
	t := &Template{
		Transform:  root["Transform"],
		Parameters: map[string]Parameter{},
		Globals:    map[string]map[string]any{},
		Resources:  map[string]Resource{},
		Outputs:    map[string]Output{},
		Functions:  map[string]Function{},
		HTTPAPIs:   map[string]HTTPAPI{},
		Tables:     map[string]Table{},
		Queues:     map[string]Queue{},
	}
	if err := t.parseSections(root); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if err := t.buildViews(); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return t, nil
}

func (t *Template) parseSections(root map[string]any) error {
	if t.Conditions, _ = root["Conditions"].(map[string]any); t.Conditions == nil {
		t.Conditions = map[string]any{}
	}

	params, err := asMap(root["Parameters"], "Parameters")
	if err != nil {
		return err
	}
	for name, v := range params {
		p, err := asMap(v, "Parameters."+name)
		if err != nil {
			return err
		}
		def, has := p["Default"]
		typ, _ := p["Type"].(string)
		desc, _ := p["Description"].(string)
		t.Parameters[name] = Parameter{Type: typ, Default: def, HasDefault: has, Description: desc, Properties: p}
	}

	globals, err := asMap(root["Globals"], "Globals")
	if err != nil {
		return err
	}
	for section, v := range globals {
		m, err := asMap(v, "Globals."+section)
		if err != nil {
			return err
		}
		t.Globals[section] = m
	}

	resources, err := asMap(root["Resources"], "Resources")
	if err != nil {
		return err
	}
	for id, v := range resources {
		r, err := asMap(v, id)
		if err != nil {
			return err
		}
		res := Resource{LogicalID: id}
		if res.Type, err = asString(r["Type"], id+".Type"); err != nil {
			return err
		}
		if res.Condition, err = asString(r["Condition"], id+".Condition"); err != nil {
			return err
		}
		if res.DeletionPolicy, err = asString(r["DeletionPolicy"], id+".DeletionPolicy"); err != nil {
			return err
		}
		if res.UpdateReplacePolicy, err = asString(r["UpdateReplacePolicy"], id+".UpdateReplacePolicy"); err != nil {
			return err
		}
		if res.Metadata, err = asMap(r["Metadata"], id+".Metadata"); err != nil {
			return err
		}
		if res.Properties, err = asMap(r["Properties"], id+".Properties"); err != nil {
			return err
		}
		t.Resources[id] = res
	}

	outputs, err := asMap(root["Outputs"], "Outputs")
	if err != nil {
		return err
	}
	for name, v := range outputs {
		o, err := asMap(v, "Outputs."+name)
		if err != nil {
			return err
		}
		desc, _ := o["Description"].(string)
		t.Outputs[name] = Output{Description: desc, Value: o["Value"]}
	}
	return nil
}

func (t *Template) buildViews() error {
	for _, id := range sortedKeys(t.Resources) {
		r := t.Resources[id]
		var err error
		switch r.Type {
		case TypeFunction:
			var f Function
			f, err = newFunction(r, t.Globals["Function"])
			t.Functions[id] = f
		case TypeHTTPAPI:
			var api HTTPAPI
			api, err = newHTTPAPI(r)
			t.HTTPAPIs[id] = api
		case TypeTable:
			var tbl Table
			tbl, err = newTable(r)
			t.Tables[id] = tbl
		case TypeQueue:
			var q Queue
			q, err = newQueue(r)
			t.Queues[id] = q
		}
		if err != nil {
			return fmt.Errorf("resource %s: %w", id, err)
		}
	}
	for _, id := range sortedKeys(t.Queues) {
		q := t.Queues[id]
		if q.DeadLetterQueue == "" {
			continue
		}
		if _, ok := t.Queues[q.DeadLetterQueue]; !ok {
			return fmt.Errorf("parse template: queue %s: dead-letter target %s is not a queue in the template", id, q.DeadLetterQueue)
		}
	}
	return nil
}

// ResourcesOfType returns the resources of one CloudFormation type, sorted by
// logical id.
func (t *Template) ResourcesOfType(typ string) []Resource {
	var out []Resource
	for _, id := range sortedKeys(t.Resources) {
		if r := t.Resources[id]; r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// FunctionIDs returns the logical ids of the functions, sorted.
func (t *Template) FunctionIDs() []string { return sortedKeys(t.Functions) }

// FunctionByDir returns the function whose code lives in dir, such as
// "functions/webhook".
func (t *Template) FunctionByDir(dir string) (Function, bool) {
	dir = filepath.ToSlash(filepath.Clean(dir))
	for _, id := range t.FunctionIDs() {
		if f := t.Functions[id]; f.Dir == dir {
			return f, true
		}
	}
	return Function{}, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// functionDir is the convention shared with the Makefile's build-%Function
// rule: logical id ConfigApiFunction builds ./functions/configapi.
func functionDir(logicalID string) string {
	return "functions/" + strings.ToLower(strings.TrimSuffix(logicalID, "Function"))
}
